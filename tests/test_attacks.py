import pytest, torch, torch.nn.functional as F
from advcourse.attacks import pgd, fgsm, PGD, cw_margin, switch_mode

@pytest.mark.parametrize('norm,eps', [('Linf', 0.1), ('Linf', 8/255), ('L2', 0.5), ('L2', 2.0)])
@pytest.mark.parametrize('start', [True, False, 'normal'])
def test_pgd_stays_in_ball_and_box(digits_model, norm, eps, start):
    m, x, y = digits_model
    xa = pgd(m, x, y, eps=eps, alpha=eps / 2, steps=4, norm=norm, random_start=start)
    d = (xa - x).flatten(1)
    dist = d.abs().amax(1) if norm == 'Linf' else d.norm(dim=1)
    assert (dist <= eps + 1e-5).all()
    assert xa.min() >= 0 and xa.max() <= 1
    assert not xa.requires_grad

def test_pgd_without_random_start_is_deterministic_and_increases_loss(digits_model):
    m, x, y = digits_model
    kw = dict(eps=0.1, alpha=0.025, steps=5, random_start=False)
    a, b = pgd(m, x, y, **kw), pgd(m, x, y, **kw)
    assert torch.equal(a, b)
    with torch.no_grad():
        assert F.cross_entropy(m(a), y) > F.cross_entropy(m(x), y)

@pytest.mark.parametrize('loss', ['ce', 'kl', 'cw'])
def test_each_attack_loss_increases_its_objective(digits_model, loss):
    m, x, y = digits_model
    xa = pgd(m, x, y, eps=0.2, alpha=0.05, steps=5, random_start=False if loss != 'kl' else 'normal', loss=loss)
    with torch.no_grad():
        lc, la = m(x), m(xa)
        if loss == 'ce': assert F.cross_entropy(la, y) > F.cross_entropy(lc, y)
        if loss == 'cw': assert cw_margin(la, y).mean() > cw_margin(lc, y).mean()
        if loss == 'kl': assert F.kl_div(F.log_softmax(la, 1), F.softmax(lc, 1), reduction='sum') > 1e-3

def test_cw_margin_by_hand():
    z = torch.tensor([[1., 3., 2.], [5., 0., -1.]])
    assert torch.allclose(cw_margin(z, torch.tensor([0, 0])), torch.tensor([2., -5.]))

def test_fgsm_is_one_signed_step(digits_model):
    m, x, y = digits_model
    xr = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(F.cross_entropy(m(xr), y, reduction='sum'), xr)
    assert torch.allclose(fgsm(m, x, y, eps=0.1), (x + 0.1 * g.sign()).clamp(0, 1))

def test_mode_restored_after_attack_that_raises(digits_model):
    m, x, y = digits_model
    m.train(); m.bn1.eval()             # a mixed state must come back exactly
    def boom(logits, y): raise RuntimeError('boom')
    with pytest.raises(RuntimeError, match='boom'):
        pgd(m, x, y, eps=0.1, alpha=0.01, steps=2, loss=boom, bn_mode='eval')
    assert m.training and not m.bn1.training and m.layer1.training

def test_bn_mode_train_updates_running_stats_eval_does_not(digits_model):
    m, x, y = digits_model
    rm = m.bn1.running_mean.clone()
    pgd(m, x, y, eps=0.1, alpha=0.02, steps=2, bn_mode='eval'); assert torch.equal(m.bn1.running_mean, rm)
    pgd(m, x, y, eps=0.1, alpha=0.02, steps=2, bn_mode='train'); assert not torch.equal(m.bn1.running_mean, rm)
    assert not m.training

def test_attack_inside_no_grad_and_no_weight_grads(digits_model):
    m, x, y = digits_model
    with torch.no_grad(): xa = pgd(m, x, y, eps=0.1, alpha=0.05, steps=2, random_start=False)
    assert not torch.equal(xa, x)
    assert all(p.grad is None for p in m.parameters())

@pytest.mark.parametrize('kw,msg', [(dict(eps=-0.1), 'eps=-0.1'), (dict(alpha=-1.), 'alpha=-1'), (dict(steps=-1), 'steps=-1'),
                                    (dict(norm='L1'), "'L1'"), (dict(loss='mse'), "'mse'"), (dict(bn_mode='test'), "'test'")])
def test_clear_errors(digits_model, kw, msg):
    m, x, y = digits_model
    args = dict(eps=0.1, alpha=0.01, steps=1) | kw
    with pytest.raises(ValueError) as e: pgd(m, x, y, **args)
    assert msg in str(e.value)

def test_images_outside_unit_box_rejected(digits_model):
    m, x, y = digits_model
    with pytest.raises(ValueError, match=r'\[0, 1\]'): pgd(m, x * 2 - 0.5, y, eps=0.1, alpha=0.01, steps=1)
    with pytest.raises(ValueError, match=r'\[0, 1\]'): PGD(eps=0.1)(m, (x - 0.5) / 0.2, y)

def test_switch_mode_rejects_unknown_mode(digits_model):
    with pytest.raises(ValueError, match="'half'"):
        with switch_mode(digits_model[0], 'half'): pass
