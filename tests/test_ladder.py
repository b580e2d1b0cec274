"The invariance ladder's mechanisms, checked against the equations (AR-AT Sec. 3)."
import copy, pytest, torch, torch.nn as nn
from advcourse.attacks import pgd, PGD
from advcourse.core import load_checkpoint, set_seed
from advcourse.data import get_dls, DataLoaders, TensorLoader
from advcourse.learner import Learner, CheckpointCB
from advcourse.losses import arat_loss, invariance_terms, Invariance, LADDER, ARAT, AutoBalanceCB, trades_loss, trades_attack
from advcourse.models import get_model
from advcourse.splitbn import convert_split_bn, merge_split_bn, bn_route, DualBatchNorm2d

@pytest.fixture
def setup():
    set_seed(0); dls = get_dls('digits')
    return dls, dls.train.x[:32], dls.train.y[:32]

fixed_attack = lambda model, x, y: (x.detach() + 0.1).clamp(0, 1)

@pytest.mark.parametrize('stop_grad', [True, False])
@pytest.mark.parametrize('split', [True, False])
def test_stop_grad_gives_exactly_zero_gradient_to_clean_input(setup, stop_grad, split):
    dls, x, y = setup
    m = get_model('digits_resnet', dls.info)
    if split: convert_split_bn(m)
    xr = x.clone().requires_grad_(True)
    t = invariance_terms(m, xr, y, attack=fixed_attack, layers=m.last_stage_relus, stop_grad=stop_grad, split_bn=split)
    g, = torch.autograd.grad(t['inv'], xr, allow_unused=True)
    if stop_grad: assert g is None or torch.count_nonzero(g) == 0
    else: assert g is not None and g.abs().sum() > 0

def test_reverse_term_gives_no_gradient_to_adversarial_side(setup):
    dls, x, y = setup
    m = get_model('digits_resnet', dls.info)
    xa = fixed_attack(None, x, None).requires_grad_(True)
    t = invariance_terms(m, x, y, attack=lambda *_: xa, layers=m.penultimate, stop_grad=False, reverse=True)
    g, = torch.autograd.grad(t['inv'], xa, allow_unused=True)
    assert g is None or torch.count_nonzero(g) == 0

def _stats(m, half):
    return [getattr(d, half).running_mean.clone() for d in m.modules() if isinstance(d, DualBatchNorm2d)]

def test_split_bn_step_routes_statistics(setup):
    "A V3 training step updates the main BNs' stats from the adversarial batch only and the aux BNs' from the clean batch only."
    dls, x, y = setup
    m = convert_split_bn(get_model('digits_resnet', dls.info)).train()
    ref = copy.deepcopy(m)
    xa = fixed_attack(None, x, None)
    invariance_terms(m, x, y, attack=fixed_attack, layers=m.penultimate, split_bn=True)
    with torch.no_grad():
        with bn_route(ref, 'clean'): ref(x)     # what the aux BNs should have seen
        ref(xa)                                  # what the main BNs should have seen
    for a, b in zip(_stats(m, 'aux'), _stats(ref, 'aux')): assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(_stats(m, 'main'), _stats(ref, 'main')): assert torch.allclose(a, b, atol=1e-6)
    assert not all(torch.allclose(a, b) for a, b in zip(_stats(m, 'aux'), _stats(m, 'main')))

def test_eval_uses_main_bns(setup):
    dls, x, y = setup
    m = convert_split_bn(get_model('digits_resnet', dls.info)).train()
    with torch.no_grad():
        for _ in range(3):
            with bn_route(m, 'clean'): m(x)
            m((x + 0.3).clamp(0, 1))
    m.eval()
    with torch.no_grad():
        out = m(x)
        assert torch.allclose(out, merge_split_bn(m, 'adv')(x), atol=1e-6)
        assert not torch.allclose(out, merge_split_bn(m, 'clean')(x), atol=1e-4)

def test_an_attack_that_never_routes_goes_through_the_main_bns(setup):
    "The main (adversarial) BNs are the default route: the attack does not route (issue 8), the objective does."
    dls, x, y = setup
    m = convert_split_bn(get_model('digits_resnet', dls.info)).eval()
    seen = []
    d = next(mod for mod in m.modules() if isinstance(mod, DualBatchNorm2d))
    h = d.register_forward_pre_hook(lambda mod, inp: seen.append(mod.route))
    pgd(m, x, y, eps=0.1, alpha=0.05, steps=2)
    h.remove()
    assert seen and set(seen) == {'adv'} and d.route == 'adv'

def test_auto_balance_sets_alpha_beta_from_known_accuracy(setup):
    dls, x, y = setup
    m = convert_split_bn(get_model('digits_resnet', dls.info))
    with torch.no_grad():
        m.fc.weight.zero_(); m.fc.bias.zero_(); m.fc.bias[7] = 5.
    fixed = DataLoaders(TensorLoader(dls.train.x, dls.train.y, 100), dls.valid, dls.info)
    obj = ARAT(m, attack=PGD(eps=0.25, bn_mode="train"), input_shape=dls.info.shape)
    learn = Learner(m, fixed, obj); learn.log = {}
    AutoBalanceCB(500).before_epoch(learn)
    share = (dls.train.y[:500] == 7).float().mean().item()
    assert obj.alpha == pytest.approx(share) and obj.beta == pytest.approx(1 - share)
    assert learn.log['alpha'] == pytest.approx(share)

def test_predictors_in_optimiser_and_checkpoint(tmp_path):
    set_seed(0); dls = get_dls('digits', n_train=64)
    m = convert_split_bn(get_model('digits_resnet', dls.info))
    obj = ARAT(m, attack=PGD(eps=0.25, steps=2, bn_mode="train"), input_shape=dls.info.shape)
    w0 = {k: v.clone() for k, v in obj.predictors.state_dict().items()}
    learn = Learner(m, dls, obj, cbs=[AutoBalanceCB(64), CheckpointCB(tmp_path / 'c.pt')]).fit(1)
    ids = {id(p) for g in learn.opt.param_groups for p in g['params']}
    assert all(id(p) in ids for p in obj.predictors.parameters())
    ck = load_checkpoint(tmp_path / 'c.pt')['extras']
    for k, v in obj.predictors.state_dict().items():
        assert torch.equal(ck[f'objective.predictors.{k}'], v)
    assert any(not torch.equal(w0[k], v) for k, v in obj.predictors.state_dict().items() if v.is_floating_point())

def test_presets_are_switches_of_one_function():
    assert LADDER['V0'] == dict(stop_grad=False, predictor=False, split_bn=False)
    assert LADDER['V3'] == dict(stop_grad=True, predictor=True, split_bn=True)
    from advcourse.losses import arat_loss as a
    assert callable(a)

def test_trades_kl_gradient_flows_into_both_branches(setup):
    dls, x, y = setup
    m = get_model('digits_resnet', dls.info)
    loss, parts = trades_loss(m, x, y, attack=trades_attack(0.25, 0.0625, 2), beta=6.)
    assert set(parts) >= {'ce_clean', 'kl'} and loss.requires_grad
    assert parts['kl'] >= 0

def test_v0_gradient_is_v1_plus_reverse(setup):
    "AR-AT Eq. 5: ∇Dist(z, z') = ∇Dist(z', sg(z)) + ∇Dist(sg(z'), z) — the split chapter 14 trains half by half."
    dls, x, y = setup
    m = get_model('digits_resnet', dls.info).eval()
    ws = [mod.weight for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    inv = lambda **sw: invariance_terms(m, x, y, attack=fixed_attack, layers=m.penultimate, **sw)['inv']
    g0 = torch.autograd.grad(inv(stop_grad=False), ws)
    g1 = torch.autograd.grad(inv(stop_grad=True), ws)
    gr = torch.autograd.grad(inv(stop_grad=False, reverse=True), ws)
    for a, b, c in zip(g0, g1, gr): assert torch.allclose(a, b + c, atol=1e-6)
    assert all(b.abs().sum() > 0 and c.abs().sum() > 0 for b, c in zip(g1, gr))
