"Chapter 23: `advcourse run` under torchrun with 2 gloo processes on the CPU (issue 12, deliverable 6)."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
import torch

ROOT, JOB = Path(__file__).resolve().parents[1], Path(__file__).with_name('ddp_job.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1')
SMALL = ['--preset', 'digits', '--set', 'n_train=256', '--set', 'eval_n=32', '--quiet']
pytestmark = pytest.mark.skipif(shutil.which('torchrun') is None or not torch.distributed.is_available(),
                                reason='needs torchrun and torch.distributed')

def torchrun(*args, timeout=120):
    cmd = [shutil.which('torchrun'), '--standalone', '--nproc_per_node=2', *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=timeout)

def states(folder, method, rank):
    (f,) = Path(folder).glob(f'*_{method}_s0_*.rank{rank}.pt')
    return torch.load(f, weights_only=True)

@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    "Five methods (and ARREST's/CURE's standard pretraining) for 2 epochs on 2 ranks; each rank's weights saved."
    out = tmp_path_factory.mktemp('ddp2')
    r = torchrun(JOB, out / 'states', '--', 'run', '--methods', 'at,trades,arat,arrest,cure', '--epochs', 2,
                 *SMALL, '--out', out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out

def test_acceptance_command_writes_one_result(tmp_path):
    r = torchrun('-m', 'advcourse', 'run', '--preset', 'digits', '--methods', 'at', '--epochs', 1,
                 '--set', 'n_train=256', '--out', tmp_path, '--quiet')
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (res,) = tmp_path.glob('*/result.json')                       # one run, written once (by rank 0)
    row = json.loads(res.read_text())
    assert row['world_size'] == 2 and row['method'] == 'at' and row['n_eval'] > 0
    assert sorted(p.name for p in res.parent.iterdir()) == ['ckpt.pt', 'log.csv', 'result.json']
    assert (tmp_path / 'results.csv').exists() and (tmp_path / 'tradeoff.png').exists()
    assert r.stdout.count('wrote ') == 1                           # one table, from rank 0

@pytest.mark.parametrize('method', ['st', 'at', 'trades', 'arat', 'arrest', 'cure'])
def test_ranks_end_with_identical_weights_and_buffers(two_ranks, method):
    a, b = states(two_ranks / 'states', method, 0), states(two_ranks / 'states', method, 1)
    for part in ('model', 'extras'):
        assert a[part].keys() == b[part].keys()
        for k in a[part]: assert torch.equal(a[part][k], b[part][k]), (method, part, k)
    bn = [k for k in a['model'] if k.endswith('running_mean')]
    assert bn and all(a['model'][k].abs().sum() > 0 for k in bn)    # BatchNorm statistics moved, and agree
    assert a['history'] == [{**r, 'time': a['history'][i]['time']} for i, r in enumerate(b['history'])]
    if method == 'arat':
        assert any('.aux.' in k for k in a['model']) and any('predictors' in k for k in a['extras'])
        assert {r['alpha'] for r in a['history']} == {r['alpha'] for r in b['history']}   # the same α on both

def test_two_ranks_match_one_process_with_the_same_global_batch(two_ranks, tmp_path):
    """Standard training (no random attack start, no augmentation on the digits, fp32), 2 epochs of 2 global
    batches of 128: 1 process vs 2 ranks of 64. The loop is the same computation except that in training mode each
    rank's BatchNorm normalises over its 64 images instead of all 128 (and float sums are taken in another order);
    the measured gap is ~10 % of the distance the weights travel and ~1e-3 in the mean training loss."""
    r = subprocess.run([sys.executable, str(JOB), tmp_path / 'states', '--', 'run', '--methods', 'st',
                        '--epochs', '2', *SMALL, '--out', tmp_path], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = states(tmp_path / 'states', 'st', 0), states(two_ranks / 'states', 'st', 0)
    from advcourse.core import set_seed
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    set_seed(0)
    w0 = get_model('digits_resnet', dataset_info('digits')).state_dict()
    ks = [k for k in w0 if k.endswith(('weight', 'bias'))]
    gap = sum((one['model'][k] - two['model'][k]).pow(2).sum() for k in ks).sqrt()
    moved = sum((one['model'][k] - w0[k]).pow(2).sum() for k in ks).sqrt()
    assert moved > 0.1 and gap / moved < 0.25, (gap, moved)
    for r1, r2 in zip(one['history'], two['history']):
        assert abs(r1['train_loss'] - r2['train_loss']) < 0.02 * r1['train_loss'], (r1, r2)

def test_resume_after_a_kill_under_torchrun(two_ranks, tmp_path):
    "Both ranks SIGKILLed at the start of epoch 1; the rerun resumes from rank 0's checkpoint: the same weights."
    args = ['--', 'run', '--methods', 'at', '--epochs', 2, *SMALL, '--out', tmp_path]
    killed = torchrun(JOB, tmp_path / 'states', 1, *args)
    assert killed.returncode != 0
    (ck,) = tmp_path.glob('*/ckpt.pt')
    assert torch.load(ck, weights_only=True)['epoch'] == 0 and not list(tmp_path.glob('*/result.json'))
    resumed = torchrun(JOB, tmp_path / 'states', *args)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    full = states(two_ranks / 'states', 'at', 0)
    for rank in (0, 1):
        got = states(tmp_path / 'states', 'at', rank)
        for k in full['model']: assert torch.equal(full['model'][k], got['model'][k]), (rank, k)
    log = (next(tmp_path.glob('*/log.csv'))).read_text().splitlines()
    assert [l.split(',')[0] for l in log[1:]] == ['0', '1']        # one row per epoch, no duplicate
