import csv, os, subprocess, sys
from functools import partial
from pathlib import Path
import pytest, torch, torch.nn as nn, torch.nn.functional as F
from advcourse.core import load_checkpoint, set_seed
from advcourse.data import get_dls
from advcourse.learner import Learner, Callback, CheckpointCB, DeviceCB, MixedPrecisionCB, LRSchedCB, piecewise, read_csv_log
from advcourse.losses import st_loss
from advcourse.models import get_model

JOB = Path(__file__).with_name('resume_job.py')

def _job(tmp, name, *args, seed=0):
    env = dict(os.environ, SEED=str(seed))
    return subprocess.run([sys.executable, str(JOB), str(tmp / f'{name}.ckpt'), str(tmp / f'{name}.pt'), *map(str, args)],
                          capture_output=True, text=True, env=env)

def test_resume_after_sigkill_gives_identical_weights(tmp_path):
    full = _job(tmp_path, 'full'); assert full.returncode == 0, full.stderr
    killed = _job(tmp_path, 'run', 2)
    assert killed.returncode == -9, (killed.returncode, killed.stderr)            # really killed
    assert load_checkpoint(tmp_path / 'run.ckpt')['epoch'] == 1                  # epochs 0 and 1 were saved
    assert not (tmp_path / 'run.pt').exists()
    resumed = _job(tmp_path, 'run', seed=123)                                     # a new process, another init seed
    assert resumed.returncode == 0, resumed.stderr
    a, b = torch.load(tmp_path / 'full.pt', weights_only=True), torch.load(tmp_path / 'run.pt', weights_only=True)
    for k in a: assert torch.equal(a[k], b[k]), k
    rows = read_csv_log(tmp_path / 'run.pt.csv')
    assert [r['epoch'] for r in rows] == [0, 1, 2, 3]                             # the log is complete, no duplicates
    assert rows == read_csv_log(tmp_path / 'full.pt.csv') or \
           [{k: v for k, v in r.items() if k != 'time'} for r in rows] == [{k: v for k, v in r.items() if k != 'time'} for r in read_csv_log(tmp_path / 'full.pt.csv')]

def test_checkpoint_loads_with_weights_only(tmp_path):
    set_seed(0); dls = get_dls('digits', n_train=64)
    learn = Learner(get_model('digits_resnet', dls.info), dls, st_loss, cbs=[CheckpointCB(tmp_path / 'c.pt')]).fit(1)
    sd = torch.load(tmp_path / 'c.pt', weights_only=True)
    assert set(sd) >= {'model', 'opt', 'epoch', 'rng', 'history', 'extras', 'cbs'}

def test_extras_trained_frozen_excluded_and_checkpointed(tmp_path):
    set_seed(0); dls = get_dls('digits', n_train=64)
    pred, teacher = nn.Linear(32, 32), nn.Linear(32, 32).requires_grad_(False)
    w_teacher = teacher.weight.clone()
    def obj(model, x, y):
        from advcourse.models import capture
        with capture(model, model.penultimate) as f: logits = model(x)
        z = f[model.penultimate]
        loss = F.cross_entropy(logits, y) + (pred(z) - teacher(z)).pow(2).mean()
        return loss, {}
    w0 = pred.weight.clone()
    learn = Learner(get_model('digits_resnet', dls.info), dls, obj, extras={'pred': pred, 'teacher': teacher},
                    cbs=[CheckpointCB(tmp_path / 'c.pt')]).fit(1)
    assert not torch.equal(pred.weight, w0) and torch.equal(teacher.weight, w_teacher)
    sd = load_checkpoint(tmp_path / 'c.pt')['extras']
    assert torch.equal(sd['pred.weight'], pred.weight) and 'teacher.weight' in sd

def test_objective_module_is_registered_as_extra():
    class Obj(nn.Module):
        def __init__(self): super().__init__(); self.h = nn.Linear(10, 10)
        def forward(self, model, x, y): return F.cross_entropy(self.h(model(x)), y), {}
    dls = get_dls('digits', n_train=64); o = Obj()
    learn = Learner(get_model('digits_resnet', dls.info), dls, o).fit(1)
    ids = {id(p) for g in learn.opt.param_groups for p in g['params']}
    assert id(o.h.weight) in ids and 'objective.h.weight' in learn.state_dict()['extras']

def test_events_after_backward_sees_gradients_and_after_step_sees_new_weights():
    seen = {}
    class Probe(Callback):
        def after_backward(self, learn):
            seen.setdefault('grad', learn.model.fc.weight.grad is not None and learn.model.fc.weight.grad.abs().sum().item() > 0)
            self.w = learn.model.fc.weight.detach().clone()
        def after_step(self, learn): seen.setdefault('moved', not torch.equal(self.w, learn.model.fc.weight))
        def before_epoch(self, learn): seen.setdefault('epochs', []).append(learn.epoch)
    dls = get_dls('digits', n_train=64)
    Learner(get_model('digits_resnet', dls.info), dls, st_loss, cbs=[Probe()]).fit(2)
    assert seen == {'epochs': [0, 1], 'grad': True, 'moved': True}

def test_gradient_mask_in_after_backward_is_respected():
    "A CURE-style mask zeroing all gradients of fc (momentum and weight decay off) leaves fc unchanged."
    class Mask(Callback):
        def after_backward(self, learn): learn.model.fc.weight.grad.zero_(); learn.model.fc.bias.grad.zero_()
    dls = get_dls('digits', n_train=64)
    m = get_model('digits_resnet', dls.info); w = m.fc.weight.clone()
    Learner(m, dls, st_loss, cbs=[Mask()], opt_func=lambda p, lr: torch.optim.SGD(p, lr=lr)).fit(1)
    assert torch.equal(m.fc.weight, w)

def test_lr_schedule_applied():
    lrs = []
    class Rec(Callback):
        order = 10
        def before_epoch(self, learn): lrs.append(learn.opt.param_groups[0]['lr'])
    dls = get_dls('digits', n_train=64)
    Learner(get_model('digits_resnet', dls.info), dls, st_loss, lr=0.1, cbs=[LRSchedCB(), Rec()]).fit(10)
    assert lrs == pytest.approx([0.1] * 8 + [0.01, 0.001])

@pytest.mark.parametrize('dtype', ['bf16', 'fp16'])
def test_mixed_precision_trains_on_cpu(dtype):
    if dtype == 'fp16':
        try: torch.amp.GradScaler('cpu')
        except Exception: pytest.skip('no CPU GradScaler in this torch')
    set_seed(0); dls = get_dls('digits', n_train=128)
    learn = Learner(get_model('digits_resnet', dls.info), dls, st_loss, cbs=[DeviceCB('cpu'), MixedPrecisionCB(dtype)]).fit(2)
    assert all(torch.isfinite(torch.tensor(r['train_loss'])) for r in learn.history)
    assert (learn.scaler is not None) == (dtype == 'fp16')

def test_mixed_precision_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="'fp8'"): MixedPrecisionCB('fp8')

# --- live training plot (issue 7, items 4 and 8): the notebook bar must draw the curves; a failing plot warns once

@pytest.fixture
def notebook_bars(monkeypatch):
    "Make `ProgressCB` use fastprogress's notebook bars, displaying through a real (terminal) IPython shell, on Agg."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import fastprogress.fastprogress as fp
    from IPython.core.interactiveshell import InteractiveShell
    had_shell = InteractiveShell.initialized()
    InteractiveShell.instance()
    monkeypatch.setattr(fp, 'master_bar', fp.NBMasterBar); monkeypatch.setattr(fp, 'progress_bar', fp.NBProgressBar)
    yield fp.NBMasterBar
    plt.close('all')
    if not had_shell: InteractiveShell.clear_instance()

def _fit_with_progress(epochs=2):
    from advcourse.learner import ProgressCB
    set_seed(0); dls = get_dls('digits', n_train=64)
    cb = ProgressCB()
    learn = Learner(get_model('digits_resnet', dls.info), dls, st_loss, cbs=[DeviceCB('cpu'), cb]).fit(epochs)
    return learn, cb

def test_progress_cb_draws_its_curves_with_the_notebook_bar(notebook_bars):
    learn, cb = _fit_with_progress(2)
    assert isinstance(cb.mbar, notebook_bars)
    lines = cb.mbar.graph_fig.axes[0].get_lines()
    assert [l.get_label() for l in lines] == ['train_loss', 'valid_loss', 'valid_acc']
    for l, c in zip(lines, cb.cols):
        assert list(l.get_xdata()) == [0, 1]
        assert list(l.get_ydata()) == pytest.approx([r[c] for r in learn.history])

def test_failing_live_plot_warns_once_and_training_goes_on(notebook_bars, monkeypatch):
    import warnings
    def broken(self, *a, **k): raise RuntimeError('no display here')
    monkeypatch.setattr(notebook_bars, 'update_graph', broken)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        learn, cb = _fit_with_progress(3)
    ours = [x for x in w if 'ProgressCB' in str(x.message)]
    assert len(ours) == 1 and 'RuntimeError: no display here' in str(ours[0].message)
    assert len(learn.history) == 3
