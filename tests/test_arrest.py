"Issue 10: ARREST — the distance, noisy replay, the frozen teacher, AFT's learning rate, the runner, resume."
import copy, math, re, subprocess, sys
from pathlib import Path
import pytest, torch
import torch.nn.functional as F
from advcourse.attacks import PGD
from advcourse.cli import load_run, run
from advcourse.configs import get_config
from advcourse.core import load_checkpoint, set_seed, switch_mode
from advcourse.data import get_dls
from advcourse.learner import Learner, train_learner
from advcourse.losses import at_loss
from advcourse.losses.arrest import (ARREST, AftLRCB, NoisyReplayCB, aft_lr, angular_distance, arrest_inputs,
                                     arrest_loss, pretrain_config, replay_mask, replay_threshold, representation)
from advcourse.models import get_model

JOB = Path(__file__).with_name('arrest_resume_job.py')

@pytest.fixture(scope='module')
def small():
    set_seed(0)
    dls = get_dls('digits', batch_size=64, n_train=128)
    return dls, get_model('digits_resnet', dls.info)

def test_public_api():
    from advcourse.losses import arrest_loss, angular_distance, aft_lr     # noqa: F401 (the issue's import line)

def test_angular_distance_by_hand():
    u = torch.tensor([[1., 0.], [1., 0.], [1., 0.], [2., 2.]])
    v = torch.tensor([[5., 0.], [-2., 0.], [0., 3.], [0., 1.]])
    assert torch.allclose(angular_distance(u, v), torch.tensor([0., 0., 1., 1 - math.cos(math.pi / 4)]), atol=1e-6)
    assert math.isclose(replay_threshold(30.), 1 - math.sqrt(3) / 2)

def test_aft_lr_epoch_by_epoch():
    assert [aft_lr(e) for e in range(20)] == [.025] * 10 + [.02] * 2 + [.01] * 2 + [.005] * 2 + [.0025] * 2 + [.00125] * 2
    assert [aft_lr(e, 40) for e in (0, 19, 20, 23, 24, 39)] == [.025, .025, .02, .02, .01, .00125]   # by fraction

def test_a_copy_of_the_student_replays_nothing(small):
    dls, m = small
    x, y = dls.train.x[:64], dls.train.y[:64]
    replay, _ = replay_mask(m, copy.deepcopy(m), x, m.penultimate, phi=5.)
    assert not replay.any()
    _, parts = arrest_loss(m, x, y, attack=PGD(eps=0.25, steps=1), teacher=copy.deepcopy(m), phi=5.)
    assert parts['replay_frac'].item() == 0

def test_replayed_examples_get_noise_and_the_others_the_attack(small):
    dls, m = small
    x, y = dls.train.x[:64], dls.train.y[:64]
    t = copy.deepcopy(m)
    with torch.no_grad():
        for p in t.parameters(): p.add_(0.3 * torch.randn_like(p))
        with switch_mode(m, 'eval'), switch_mode(t, 'eval'):
            a = angular_distance(representation(m, x, m.penultimate)[1], representation(t, x, m.penultimate)[1])
    tau = a.median().item()
    replay, _ = replay_mask(m, t, x, m.penultimate, math.degrees(math.acos(1 - tau)))
    assert torch.equal(replay, a > tau) and 0 < replay.sum() < len(x)
    class Known:
        eps = 0.2
        def __call__(self, model, x, y): return (1 - x).clamp(0, 1)         # far outside the ε box: unmistakable
    xin = arrest_inputs(m, x, y, attack=Known(), replay=replay)
    assert torch.equal(xin[~replay], (1 - x)[~replay])
    d = (xin - x)[replay]
    assert d.abs().max() <= 0.2 + 1e-6 and d.abs().max() > 0 and xin.min() >= 0 and xin.max() <= 1

def test_loss_is_ce_plus_lambda_angular_distance_and_at_when_lambda_is_zero(small):
    dls, m = small
    x, y = dls.train.x[:32], dls.train.y[:32]
    t = copy.deepcopy(m).eval()
    fixed = lambda model, x, y: (x + 0.1).clamp(0, 1)
    fixed.eps = 0.1
    m.train()
    loss, parts = arrest_loss(m, x, y, attack=fixed, teacher=t, lam=7., phi=None)
    la, ha = representation(m, fixed(m, x, y), m.penultimate)
    _, ht = representation(t, x, m.penultimate)
    assert torch.allclose(loss, F.cross_entropy(la, y) + 7 * angular_distance(ha, ht).mean(), atol=1e-5)
    assert torch.allclose(arrest_loss(m, x, y, attack=fixed, teacher=t, lam=0., phi=None)[0],
                          at_loss(m, x, y, attack=fixed)[0], atol=1e-5)

def test_teacher_is_bit_identical_after_an_aft_epoch_and_gets_no_gradient(small):
    dls, m = small
    student = copy.deepcopy(m)
    obj = ARREST(student, attack=PGD(eps=0.25, steps=2), phi=30.)
    before = {k: v.clone() for k, v in obj.teacher.state_dict().items()}
    learn = train_learner(student, dls, obj, epochs=1, device='cpu', progress=False, cbs=[NoisyReplayCB(), AftLRCB()])
    assert all(torch.equal(before[k], v) for k, v in obj.teacher.state_dict().items())   # weights and BN buffers
    assert all(p.grad is None and not p.requires_grad for p in obj.teacher.parameters())
    assert not obj.teacher.training
    opt_ids = {id(p) for g in learn.opt.param_groups for p in g['params']}
    assert not any(id(p) in opt_ids for p in obj.teacher.parameters())
    assert not torch.equal(student.fc.weight, obj.teacher.fc.weight)                       # the student did move
    assert learn.history[0]['lr'] == 0.025

@pytest.mark.parametrize('kw,text', [(dict(phi=0.), 'phi=0.0'), (dict(phi=180.), 'phi=180.0'), (dict(lam=-1.), 'lam=-1.0'),
                                     (dict(layer='layer9'), "'layer9'")])
def test_bad_input_is_one_clear_error(small, kw, text):
    _, m = small
    with pytest.raises(ValueError, match=re.escape(text)): ARREST(m, attack=PGD(), **kw)

def test_a_teacher_of_another_architecture_is_refused(small):
    dls, m = small
    with pytest.raises(ValueError, match="student's architecture"): ARREST(m, get_model('digits_small', dls.info), attack=PGD())

def test_pretraining_is_the_main_jobs_st_run():
    for p in ('digits_tradeoff', 'cifar10_resnet18', 'cifar100_wrn34_10'):
        assert pretrain_config(get_config(p, method='arrest')).name == get_config(p, method='st').name
    with pytest.raises(ValueError, match='replay_phi=0'): get_config('digits', method='arrest', replay_phi=0)
    assert get_config('cifar10_wrn34_10', method='arrest').aft_epochs == 20                   # 100 + 20 (Sec. 5.2)

def test_runner_teacher_is_the_st_run_and_a_killed_aft_resumes_to_the_same_weights(tmp_path):
    job = lambda out, *a: subprocess.run([sys.executable, str(JOB), str(out), *map(str, a)], capture_output=True, text=True)
    whole = job(tmp_path / 'whole')
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = job(tmp_path / 'killed', 2)
    assert killed.returncode == -9                                                     # SIGKILL in AFT epoch 2
    resumed = job(tmp_path / 'killed')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = torch.load(tmp_path / 'whole' / 'final.pt'), torch.load(tmp_path / 'killed' / 'final.pt')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cfg = get_config('digits', method='arrest', epochs=3, aft_epochs=4, n_train=256, batch_size=64, steps=3, eval_n=64)
    ck = load_checkpoint(tmp_path / 'killed' / cfg.name / 'ckpt.pt')
    st = load_run(pretrain_config(cfg), out=tmp_path / 'killed').state_dict()
    teacher = {k[len('objective.teacher.'):]: v for k, v in ck['extras'].items() if k.startswith('objective.teacher.')}
    assert teacher.keys() == st.keys() and all(torch.equal(teacher[k], st[k]) for k in st)   # saved, and the ST run's
    assert ck['epoch'] == 3 and len(ck['history']) == 4
