"Diagnostics measure what AR-AT measures: Fig. 2b / Tab. 15 (gradient conflict), Fig. 4a (drift of z′)."
from types import SimpleNamespace
import pytest, torch, torch.nn as nn
from advcourse.attacks import PGD
from advcourse.diagnostics import DriftCB, GradConflictCB, grad_conflict

def _pair(n=6):
    "Losses w·u and w·v: their gradients are u and v."
    w = torch.zeros(n, requires_grad=True)
    u, v = torch.tensor([1., 2., -1., 0., 3., 0.]), torch.tensor([1., -2., 1., 5., 0., 0.])
    return w, (w * u).sum(), (w * v).sum(), u, v

def test_conflict_ratio_by_hand_both_denominators():
    w, la, lb, u, v = _pair()
    # products 1, -4, -1, 0, 0, 0: two conflicts; six weights, three pairs both non-zero
    r = grad_conflict(la, lb, [w])
    assert r['conflict'] == pytest.approx(2 / 6)
    assert r['cos'] == pytest.approx((u @ v / (u.norm() * v.norm())).item())
    assert grad_conflict(la, lb, [w], denominator='nonzero')['conflict'] == pytest.approx(2 / 3)
    # a tensor only the first loss reaches has a zero gradient from the second: in the count, never a conflict
    w, la, lb, u, v = _pair(); w2 = torch.zeros(2, requires_grad=True)
    r = grad_conflict(la + w2.sum(), lb, [w, w2])
    assert r['conflict'] == pytest.approx(2 / 8) and set(r['per_param']) == {'0', '1'}
    assert r['cos'] == pytest.approx((u @ v / ((u.norm() ** 2 + 2).sqrt() * v.norm())).item())
    with pytest.raises(ValueError, match="denominator='ratio'"): grad_conflict(la, lb, [w], denominator='ratio')

class _Obj:
    "An objective stand-in exposing `last_terms` as the invariance objectives do."
    def __init__(self, cls, inv): self.last_terms = {'cls': cls, 'inv': inv}

def _learn_with_terms():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 3)).train()
    x = torch.randn(8, 1, 5, 5); feats = m[:4](x); out = m[4](feats)
    # the invariance term acts on the features before the linear layer, as on a penultimate representation
    cls, inv = nn.functional.cross_entropy(out, torch.arange(8) % 3), feats.pow(2).mean()
    return m, SimpleNamespace(model=m, objective=_Obj(cls, inv), training=True, iter=0, history=[{}]), cls, inv

def test_grad_conflict_cb_defaults_to_conv_linear_weights_over_numel():
    m, learn, cls, inv = _learn_with_terms()
    cb = GradConflictCB(every=1); cb.before_epoch(learn); cb.after_loss(learn); cb.after_epoch(learn)
    assert sorted(cb.per_layer) == ['0.weight', '4.weight']          # no BN affine, no bias
    # the official analysis: flatten the Conv2d/Linear weight gradients (zeros where a loss does not reach)
    w = [m[0].weight, m[4].weight]
    ga = torch.autograd.grad(cls, w, retain_graph=True)
    gb = torch.autograd.grad(inv, w, retain_graph=True, allow_unused=True)
    a = torch.cat([g.flatten() for g in ga])
    b = torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(w, gb)])
    assert gb[1] is None and b.numel() == a.numel()
    assert learn.history[-1]['grad_conflict'] == pytest.approx(((a * b) < 0).sum().item() / a.numel())
    assert learn.history[-1]['grad_cos'] == pytest.approx(torch.nn.functional.cosine_similarity(a, b, dim=0).item(), abs=1e-6)

def test_grad_conflict_cb_keeps_the_old_measure_as_an_option():
    m, learn, cls, inv = _learn_with_terms()
    cb = GradConflictCB(every=1, params='all', denominator='nonzero'); cb.before_epoch(learn); cb.after_loss(learn)
    assert set(cb.per_layer) == {n for n, _ in m.named_parameters()}
    with pytest.raises(ValueError, match="'convs'"): GradConflictCB(params='convs')

def _drift_setup():
    "Clean images are black (x = 0): the clean path sees only biases, so changing conv weights leaves clean features fixed."
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    x, y = torch.zeros(16, 1, 6, 6), torch.randint(0, 3, (16,))
    return net, x, y, SimpleNamespace(model=net, history=[])

def _epoch_end(cb, learn):
    learn.history.append({}); torch.rand(100)     # training draws random numbers between probes
    cb.after_epoch(learn); return learn.history[-1]

def test_drift_measures_the_adversarial_representation():
    net, x, y, learn = _drift_setup()
    cb = DriftCB(x, y, PGD(eps=0.3, alpha=0.1, steps=3, seed=0), '0')
    with torch.no_grad(): clean = net[0](x).clone()
    _epoch_end(cb, learn)
    with torch.no_grad(): net[0].weight.mul_(-1)
    with torch.no_grad(): assert torch.allclose(net[0](x), clean)     # the clean path is unchanged ...
    assert _epoch_end(cb, learn)['z_drift'] > 0.01                   # ... the adversarial features moved

def test_drift_is_zero_for_identical_weights_and_covers_the_predictor():
    net, x, y, learn = _drift_setup()
    torch.manual_seed(1); pred = nn.Sequential(nn.Linear(8, 2, bias=False), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 8))
    cb = DriftCB(x, y, PGD(eps=0.3, alpha=0.1, steps=3, seed=0), '0', pred)
    assert _epoch_end(cb, learn) == {}                                 # nothing to compare with yet
    r = _epoch_end(cb, learn)
    assert r['z_drift'] == pytest.approx(0., abs=1e-6) and r['pred_drift'] == pytest.approx(0., abs=1e-6)
    with torch.no_grad():
        for p in pred[3].parameters(): p.mul_(-1)                     # h(z′) → −h(z′): cosine distance 2
    r = _epoch_end(cb, learn)
    assert r['z_drift'] == pytest.approx(0., abs=1e-6) and r['pred_drift'] == pytest.approx(2., abs=1e-5)

def test_drift_refuses_an_unseeded_attack():
    net, x, y, _ = _drift_setup()
    with pytest.raises(ValueError, match='seed=None'): DriftCB(x, y, PGD(eps=0.3, alpha=0.1, steps=3), '0')


def test_representation_similarity_is_seeded_and_restores_the_callers_rng(digits_model):
    "Tab. 5's cos(z, z') is reproducible and leaves the caller's random stream where it was (HEAD reseeded it to 0)."
    from advcourse.data import get_dls
    from advcourse.diagnostics import representation_similarity
    from advcourse.evaluate import pgd20
    m, _, _ = digits_model
    dls = get_dls('digits')
    torch.manual_seed(123); before = torch.get_rng_state()
    a = representation_similarity(m, dls.valid, pgd20(0.25, seed=None), m.penultimate, n=64)
    assert torch.equal(torch.get_rng_state(), before)
    b = representation_similarity(m, dls.valid, pgd20(0.25, seed=None), m.penultimate, n=64)
    assert a == b


# --- BN statistics (chapter 16, AR-AT Fig. 14)

def _bnstats_epochs(cb, model, bn, values):
    "Feed `cb` epochs of running means set by hand: `values[e][s]` is the running mean after step s of epoch e."
    from advcourse.learner import run_cbs
    learn = SimpleNamespace(model=model, history=[])
    run_cbs([cb], 'before_fit', learn)
    for epoch in values:
        learn.history.append({})
        run_cbs([cb], 'before_epoch', learn)
        for v in epoch:
            bn.running_mean.copy_(v)
            run_cbs([cb], 'after_step', learn)
        run_cbs([cb], 'after_epoch', learn)
    return learn.history

def test_bn_stats_variance_survives_large_running_means():
    "Running means near 100 that move by ~0.01: Σv² − (Σv)²/n in float32 loses the variance (HEAD logged garbage)."
    from advcourse.diagnostics import BNStatsCB
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    vals = [[100 + 0.01 * torch.randn(3) for _ in range(5)] for _ in range(2)]
    h = _bnstats_epochs(BNStatsCB(), nn.Sequential(bn), bn, vals)
    want = torch.stack(vals[1]).var(0).mean().item()
    assert h[-1]['bn_var_main'] == pytest.approx(want, rel=1e-3) and 'bn_var_aux' not in h[-1]

def test_bn_stats_reads_the_model_of_each_fit():
    "One callback used for two fits reads the second model's BNs in the second fit (HEAD kept the first model's)."
    from advcourse.diagnostics import BNStatsCB
    cb = BNStatsCB()
    a, b = nn.BatchNorm2d(2), nn.BatchNorm2d(2)
    _bnstats_epochs(cb, nn.Sequential(a), a, [[torch.zeros(2), torch.ones(2)]])
    h = _bnstats_epochs(cb, nn.Sequential(b), b, [[torch.zeros(2), 2 * torch.ones(2)]])
    assert h[-1]['bn_var_main'] == pytest.approx(2.)     # var of (0, 2), not of a's frozen values

def test_bn_stats_groups_main_and_aux_halves():
    from advcourse.diagnostics.bnstats import BNStatsCB, _bn_groups
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    from advcourse.splitbn import convert_split_bn
    info = dataset_info('digits')
    plain = _bn_groups(get_model('digits_resnet', info))
    split = _bn_groups(convert_split_bn(get_model('digits_resnet', info)))
    assert len(plain['aux']) == 0 and len(split['main']) == len(split['aux']) == len(plain['main']) > 0
    assert not {id(m) for m in split['main']} & {id(m) for m in split['aux']}

def test_drift_survives_a_resume(tmp_path):
    "A run resumed from its checkpoint measures the drift of its first resumed epoch (HEAD lost the last z′)."
    import torch.nn.functional as F
    from advcourse.data import DataLoaders, TensorLoader
    from advcourse.learner import CheckpointCB, Learner
    net, x, y, _ = _drift_setup()
    xs, ys = torch.rand(32, 1, 6, 6), torch.randint(0, 3, (32,))
    dls = DataLoaders(TensorLoader(xs, ys, 16), TensorLoader(xs, ys, 16), None)
    def obj(m, xb, yb): return F.cross_entropy(m(xb), yb), {}
    def cbs(): return [DriftCB(x, y, PGD(eps=0.3, alpha=0.1, steps=3, seed=0), '0'), CheckpointCB(tmp_path / 'c.pt')]
    Learner(net, dls, obj, cbs=cbs()).fit(2)
    learn = Learner(net, dls, obj, cbs=cbs()).fit(3)              # resumes after epoch 1
    assert [('z_drift' in r) for r in learn.history] == [False, True, True]
