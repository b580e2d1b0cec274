"Issue 11: CURE — RGP scores and masks, the masked step, the revision model, the loss by hand, the runner, resume."
import copy, math, subprocess, sys
from functools import partial
from pathlib import Path
import pytest, torch
import torch.nn as nn
import torch.nn.functional as F
from advcourse.cli import run
from advcourse.configs import get_config
from advcourse.core import load_checkpoint, set_seed
from advcourse.data import get_dls
from advcourse.learner import Learner, sgd
from advcourse.losses.cure import (CURE, CleanWarmupCB, RGPMaskCB, RevisionCB, cure_loss, freeze_units,
                                   pretrain_config, revision_update, rgp_masks, rgp_names, rgp_scores, stage_units)
from advcourse.losses.trades import trades_attack
from advcourse.models import get_model

JOB = Path(__file__).with_name('cure_resume_job.py')

@pytest.fixture(scope='module')
def small():
    set_seed(0)
    dls = get_dls('digits', batch_size=32, n_train=64)
    return dls, get_model('digits_small', dls.info)

def test_public_api():
    from advcourse.losses import cure_loss, rgp_scores, rgp_masks, revision_update   # noqa: F401 (the issue's line)

def test_rgp_scores_are_eq6_by_hand(small):
    dls, m = small
    x, y = dls.train.x[:16], dls.train.y[:16]
    xa = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    s = rgp_scores(m, x, xa, y, 0.3)
    assert list(s) == rgp_names(m) and 'fc.weight' in s and 'conv1.weight' in s and 'layer1.0.bn1.weight' not in s
    w = dict(m.named_parameters())['fc.weight']
    gn, = torch.autograd.grad(F.cross_entropy(m(x), y), [w])
    ga, = torch.autograd.grad(F.cross_entropy(m(xa), y), [w])
    assert torch.allclose(s['fc.weight'], 0.3 * gn.abs() + 0.7 * ga.abs(), atol=1e-7)
    signed = rgp_scores(m, x, xa, y, 0.3, names=['fc.weight'], signed=True)['fc.weight']
    assert torch.allclose(signed, 0.3 * gn + 0.7 * ga, atol=1e-7) and (signed < 0).any()
    assert rgp_names(m, 'first_conv') == ['layer1.0.conv1.weight', 'layer2.0.conv1.weight']   # not the stem

def test_masks_freeze_exactly_the_lowest_p_percent():
    s = {'a': torch.tensor([5., 1., 4., 2., 3., 9., 8., 7., 6., 0.]), 'b': torch.arange(24.).view(2, 3, 4)}
    m = rgp_masks(s, 30.)
    assert m['a'].tolist() == [True, False, True, False, True, True, True, True, True, False]   # 0, 1, 2 frozen
    assert (~m['b']).sum() == 7 and not m['b'].flatten()[:7].any() and m['b'].flatten()[7:].all()  # ⌊0.3·24⌋ = 7
    assert all(v.all() for v in rgp_masks(s, 0).values())
    for p in (100, -1, 150.):
        with pytest.raises(ValueError, match=f'p={p!r}'): rgp_masks(s, p)

def _one_step(model, obj, cbs, x, y, steps=1):
    learn = Learner(model, [(x, y)] * steps, obj, lr=0.1, cbs=cbs, opt_func=partial(sgd, weight_decay=5e-2))
    learn.opt = learn.opt_func(learn.params(), learn.lr)
    learn.log, learn.epoch, learn.n_epochs, learn.training = {}, 0, 1, True
    learn('before_epoch')
    for learn.iter, (learn.xb, learn.yb) in enumerate(learn.dls): learn._one_batch()
    return learn

def test_a_masked_step_leaves_exactly_the_masked_weights_unchanged(small):
    dls, m0 = small
    m = copy.deepcopy(m0).train()
    x, y = dls.train.x[:32], dls.train.y[:32]
    obj = CURE(m, attack=trades_attack(0.3, steps=2), alpha=0.1)
    seen = {}
    class Keep(RGPMaskCB):                        # remembers the masks of the last step
        def after_backward(self, learn):
            super().after_backward(learn)
            seen.update({k: mk for k, (mk, _) in self.saved.items()})
    before = {k: v.detach().clone() for k, v in m.named_parameters()}
    for step in range(2):                        # the second step has momentum from the first
        prev = {k: v.detach().clone() for k, v in m.named_parameters()}
        _one_step(m, obj, [Keep(30.)], x, y)
        for k in obj.names:
            w = dict(m.named_parameters())[k].detach()
            frozen = ~seen[k]
            assert abs(frozen.sum().item() - math.floor(0.3 * w.numel())) <= 1
            assert torch.equal(w[frozen], prev[k][frozen])            # masked: bit-identical
            assert (w[seen[k]] != prev[k][seen[k]]).float().mean() > 0.95   # the rest move (weight decay at least)
    assert any(not torch.equal(before[k], v) for k, v in m.named_parameters())

def test_the_mask_follows_the_score_not_the_raw_gradient():
    torch.manual_seed(0)
    lin = nn.Linear(6, 3)
    x, xa, y = torch.randn(8, 6), torch.randn(8, 6), torch.randint(0, 3, (8,))
    obj = CURE(lin, attack=lambda m, x, y: xa, alpha=0.9, gamma=0.)
    loss, _ = obj(lin, x, y)
    g_total, = torch.autograd.grad(loss, [lin.weight], retain_graph=True)
    score = obj.scores['weight']
    by_score, by_grad = rgp_masks({'w': score}, 50.)['w'], rgp_masks({'w': g_total.abs()}, 50.)['w']
    assert not torch.equal(by_score, by_grad)                           # the two criteria disagree here
    lin.weight.grad = g_total.clone()
    cb = RGPMaskCB(50.)
    cb.before_epoch(None)
    cb.after_backward(type('L', (), {'objective': obj, 'model': lin})())
    zeroed = lin.weight.grad == 0
    assert torch.equal(zeroed, ~by_score) and not torch.equal(zeroed, ~by_grad)

def test_revision_update_is_eq7_with_its_warmup_and_leaves_buffers(small):
    _, m0 = small
    m, rev = copy.deepcopy(m0), copy.deepcopy(m0)
    with torch.no_grad():
        for p in m.parameters(): p.add_(1.)
    m.layer1[0].bn1.running_mean.fill_(3.)
    rev_buf = {k: v.clone() for k, v in rev.named_buffers()}
    for step, want in [(0, 0.), (1, 0.5), (3, 0.75), (10_000, 0.999)]:
        old = {k: v.clone() for k, v in rev.named_parameters()}
        assert revision_update(rev, m, 0.999, step) == want
        for k, v in rev.named_parameters():
            assert torch.allclose(v, want * old[k] + (1 - want) * dict(m.named_parameters())[k], atol=1e-6)
    assert all(torch.equal(v, rev_buf[k]) for k, v in rev.named_buffers())       # no buffer touched
    for d in (0, 1, 1.5):
        with pytest.raises(ValueError, match=f'd={d!r}'): revision_update(rev, m, d, 1)
    with pytest.raises(ValueError, match='do not match'): revision_update(get_model('digits_resnet', get_dls('digits').info), m, .9, 1)
    with pytest.raises(ValueError, match='do not match'): CURE(m, get_model('digits_resnet', get_dls('digits').info), attack=None)

def test_revisions_happen_with_the_configured_probability_and_decay():
    cb = RevisionCB(r=0.3, d=0.9, seed=1)
    obj = type('O', (), {'active': True, 'gamma': 1., 'rev_model': nn.Linear(2, 2)})()
    learn = type('L', (), {'objective': obj, 'model': nn.Linear(2, 2), 'log': {}, 'epoch': 0, 'n_epochs': 10})()
    cb.before_epoch(learn)
    for _ in range(4000): cb.after_step(learn)
    assert abs(cb.n_upd - 1200) < 4 * math.sqrt(4000 * 0.3 * 0.7)          # binomial(4000, 0.3) within 4σ
    assert [cb.rate(e, 10) for e in (0, 4, 5, 6, 9)] == [0.3, 0.3, 0.15, 0.075, 0.3 * 0.5 ** 5]
    for bad in (dict(r=1.5), dict(d=1.)):
        with pytest.raises(ValueError, match=repr(list(bad.values())[0])): RevisionCB(**bad)

def test_cure_loss_by_hand_and_no_grad_reaches_the_revision_model(small):
    dls, m0 = small
    m, rev = copy.deepcopy(m0).eval(), copy.deepcopy(m0).eval()
    with torch.no_grad():
        for p in rev.parameters(): p.mul_(0.9)
    x, y = dls.train.x[:16], dls.train.y[:16]
    xa = (x + 0.2).clamp(0, 1)
    loss, parts = cure_loss(m, x, y, attack=lambda *_: xa, rev_model=rev, beta=2., gamma=0.5)
    p, pa, r, ra = (F.softmax(f(z), 1) for f, z in ((m, x), (m, xa), (rev, x), (rev, xa)))
    kl = lambda a, b: (a * (a.log() - b.log())).sum(1).mean()
    want = F.cross_entropy(m(x), y) + 2 * kl(p, pa) + 0.5 * (kl(r, p) + kl(ra, pa))
    assert torch.allclose(loss, want, atol=1e-5)
    assert torch.allclose(parts['cr'], kl(r, p) + kl(ra, pa), atol=1e-5)
    rev.requires_grad_(True)                                   # even a trainable copy gets no gradient
    loss, _ = cure_loss(m, x, y, attack=lambda *_: xa, rev_model=rev)
    loss.backward()
    assert all(q.grad is None for q in rev.parameters())

def test_after_a_training_step_the_revision_model_has_no_grad(small):
    dls, m0 = small
    m = copy.deepcopy(m0)
    obj = CURE(m, attack=trades_attack(0.3, steps=2))
    learn = _one_step(m, obj, [RGPMaskCB(30.), RevisionCB(r=1.)], dls.train.x[:32], dls.train.y[:32], steps=2)
    assert all(q.grad is None and not q.requires_grad for q in obj.rev_model.parameters())
    assert all(id(q) not in {id(p) for p in learn.opt.param_groups[0]['params']} for q in obj.rev_model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(obj.rev_model.parameters(), m0.parameters()))  # revised

def test_bad_inputs_name_the_value(small):
    dls, m = small
    x, y = dls.train.x[:4], dls.train.y[:4]
    with pytest.raises(ValueError, match='alpha=1.5'): rgp_scores(m, x, x, y, 1.5)
    with pytest.raises(ValueError, match='alpha=-0.1'): CURE(m, attack=None, alpha=-0.1)
    with pytest.raises(ValueError, match="'middle'"): rgp_names(m, 'middle')
    with pytest.raises(ValueError, match="'45'"): freeze_units(copy.deepcopy(m), '45')
    for k, v in dict(rgp_p=100., rgp_alpha=2., revision_d=1., revision_r=-0.5, rgp_layers='some').items():
        with pytest.raises(ValueError, match=f'{k}={v!r}'): get_config('digits', method='cure', **{k: v})

def test_freeze_units_trains_only_the_chosen_stages(small):
    dls, m0 = small
    assert list(stage_units(m0)) == ['1', '2', '3']
    m = freeze_units(copy.deepcopy(m0), '23', reinit=True)
    train = {k for k, p in m.named_parameters() if p.requires_grad}
    assert train == {k for k, _ in m.named_parameters() if k.startswith(('layer2', 'fc'))}
    assert torch.equal(m.conv1.weight, m0.conv1.weight) and not torch.equal(m.fc.weight, m0.fc.weight)

def test_cure_eff_trains_clean_first_then_restarts_the_revision_model(small):
    dls, m0 = small
    m = copy.deepcopy(m0)
    obj = CURE(m, attack=trades_attack(0.3, steps=2))
    with torch.no_grad():
        for p in m.parameters(): p.add_(0.01)
    learn = type('L', (), {'objective': obj, 'model': m, 'log': {}, 'epoch': 0})()
    CleanWarmupCB(1).before_epoch(learn)
    loss, parts = obj(m, dls.train.x[:8], dls.train.y[:8])
    assert not obj.active and obj.scores is None and set(parts) == {'acc_clean'}
    learn.epoch = 1
    CleanWarmupCB(1).before_epoch(learn)
    assert obj.active and all(torch.equal(a, b) for a, b in zip(obj.rev_model.state_dict().values(),
                                                                 m.state_dict().values()))

def test_configs_resolve_tab9_and_share_the_st_run():
    c = get_config('digits_tradeoff', method='cure')
    assert (c.rgp_p, c.rgp_alpha, c.cure_gamma, c.cure_beta) == (30., 0.1, 1., 1.)
    w = get_config('cifar10_wrn34_10', method='cure')
    assert (w.rgp_p, w.rgp_alpha, w.cure_gamma) == (50., 0.3, 0.5)
    assert pretrain_config(get_config('digits_tradeoff', method='cure', rgp_p=0.)).name == \
        get_config('digits_tradeoff', method='st').name
    assert get_config('digits_tradeoff', method='at').rgp_p is None                      # other methods: untouched
    assert get_config('digits_tradeoff', method='cure_eff').cure_warmup == 6

def test_runner_tracks_the_best_epoch_and_reuses_a_finished_run(tmp_path):
    cfg = get_config('digits', method='at', epochs=2, n_train=128, batch_size=64, steps=2, eval_n=64, track_best=64)
    r = run(cfg, tmp_path, progress=False)
    assert r['best']['epoch'] in (0, 1) and (tmp_path / cfg.name / 'best.pt').exists()
    assert r['best']['pgd20_select'] == max(row['valid_pgd20'] for row in
                                            __import__('advcourse.learner', fromlist=['x']).read_csv_log(
                                                tmp_path / cfg.name / 'log.csv'))
    (tmp_path / cfg.name / 'result.json').write_text((tmp_path / cfg.name / 'result.json').read_text()
                                                     .replace('"method": "at"', '"method": "at", "marker": 1'))
    assert run(cfg, tmp_path, progress=False, reuse=True).get('marker') == 1
    assert 'marker' not in run(cfg, tmp_path, progress=False)                 # without reuse: evaluated again

def test_a_killed_cure_run_resumes_to_the_same_weights_and_revision_model(tmp_path):
    job = lambda out, *a: subprocess.run([sys.executable, str(JOB), str(out), *map(str, a)], capture_output=True, text=True)
    whole = job(tmp_path / 'whole')
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = job(tmp_path / 'killed', 2)
    assert killed.returncode == -9                                                     # SIGKILL in epoch 2
    resumed = job(tmp_path / 'killed')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = torch.load(tmp_path / 'whole' / 'final.pt'), torch.load(tmp_path / 'killed' / 'final.pt')
    for part in ('model', 'extras'):
        assert a[part].keys() == b[part].keys() and all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert any('rev_model' in k for k in a['extras'])                                 # the revision model is saved
