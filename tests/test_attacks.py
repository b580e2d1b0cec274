import pytest, torch, torch.nn.functional as F
from advcourse.attacks import pgd, fgsm, PGD, cw_margin
from advcourse.core import switch_mode

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

# --- seeded attacks (issue 7, item 5): evaluation must be reproducible and leave the caller's RNG alone

@pytest.mark.parametrize('norm,start', [('Linf', True), ('L2', True), ('Linf', 'normal')])
def test_seeded_pgd_is_reproducible_and_restores_caller_rng(digits_model, norm, start):
    m, x, y = digits_model
    kw = dict(eps=0.1, alpha=0.02, steps=2, norm=norm, random_start=start)
    torch.manual_seed(123); before = torch.get_rng_state()
    a = pgd(m, x, y, seed=0, **kw)
    assert torch.equal(torch.get_rng_state(), before)                  # caller's RNG untouched
    torch.rand(5)                                                      # whatever the caller's state is now...
    assert torch.equal(pgd(m, x, y, seed=0, **kw), a)                  # ...the same seed gives the same x_adv
    assert not torch.equal(pgd(m, x, y, seed=1, **kw), a)
    assert torch.equal(PGD(**kw, seed=0)(m, x, y), a)                  # the dataclass passes the seed through

def test_unseeded_pgd_draws_from_the_global_rng(digits_model):
    m, x, y = digits_model
    kw = dict(eps=0.1, alpha=0.02, steps=2)
    torch.manual_seed(7); a = pgd(m, x, y, **kw); after = torch.get_rng_state()
    torch.manual_seed(7); b = pgd(m, x, y, seed=None, **kw)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), after)
    assert not torch.equal(pgd(m, x, y, **kw), a)                      # the state moved on: a new start

@pytest.mark.parametrize('seed', [1.5, '0', True])
def test_bad_seed_rejected(digits_model, seed):
    m, x, y = digits_model
    with pytest.raises(ValueError, match=f'seed={seed!r}'): pgd(m, x, y, eps=0.1, alpha=0.01, steps=1, seed=seed)
    with pytest.raises(ValueError, match=f'seed={seed!r}'): PGD(seed=seed)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_seeded_pgd_on_cuda_restores_cuda_rng(digits_model):
    m, x, y = digits_model
    m, x, y = m.cuda(), x.cuda(), y.cuda()
    torch.cuda.manual_seed(5); cpu, gpu = torch.get_rng_state(), torch.cuda.get_rng_state()
    a = pgd(m, x, y, eps=0.1, alpha=0.02, steps=2, seed=0)
    assert torch.equal(torch.get_rng_state(), cpu) and torch.equal(torch.cuda.get_rng_state(), gpu)
    torch.rand(3, device='cuda')
    assert torch.equal(pgd(m, x, y, eps=0.1, alpha=0.02, steps=2, seed=0), a)

# --- attack explorer (issue 7, item 7): one column of images, and the toggle starts on PGD-10

def test_show_attack_with_one_image(digits_model):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from advcourse.attacks import show_attack
    m, x, y = digits_model
    fig = show_attack(m, x, y, pgd(m, x[:1], y[:1], eps=0.1, alpha=0.025, steps=2), n=1)
    try: assert len(fig.axes) == 3 and all(len(a.images) == 1 for a in fig.axes)
    finally: plt.close(fig)

def test_attack_explorer_starts_on_pgd10_and_draws_without_error(digits_model):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import ipywidgets as W
    from advcourse.attacks import attack_explorer
    m, x, y = digits_model
    w = attack_explorer(m, x, y)
    toggle, = [c for c in w.children if isinstance(c, W.ToggleButtons)]
    assert toggle.value == 'PGD-10' and w.kwargs['attack'] == 'PGD-10'
    plt.close('all')
    for attack in ('PGD-10', 'FGSM'):
        w.f(**(w.kwargs | {'attack': attack}))     # what the widget runs on every change: must not raise
        assert len(plt.gcf().axes) == 3
        plt.close('all')


def test_bad_bn_mode_error_names_bn_mode():
    "The error names the argument the caller passed (`bn_mode`), not the helper's own (`mode`)."
    import torch.nn as nn
    with pytest.raises(ValueError, match="bn_mode='x'"):
        pgd(nn.Linear(4, 2), torch.rand(2, 4), torch.tensor([0, 1]), eps=0.1, steps=1, bn_mode='x')
