"Issue 12, speed: data on the device, no host sync in the attack loop, each speed option against fp32, the benchmark."
import copy, os, pickle, subprocess, sys
from functools import partial
from pathlib import Path
import numpy as np, pytest, torch
import torchvision
from torchvision.transforms import functional as TF
import advcourse.attacks as A
from advcourse.attacks import PGD, pgd
from advcourse.core import set_seed
from advcourse.data import DeviceLoader, _tv_transform, dataset_info, digits_tensors, get_dls
from advcourse.losses import at_loss, st_loss
from advcourse.models import get_model
from advcourse.core import default_device
from advcourse.speed import HostSyncError, no_host_sync, time_epochs, train_steps, weight_gap

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(autouse=True)
def one_thread():
    "Small networks: one thread (as under xdist) also with `-p no:xdist`, where two threads fight on a shared CPU."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

# an image whose pixels say where they come from: channel 0 = 1 + 7·row, channel 1 = 1 + 7·column
_K = torch.arange(32, dtype=torch.uint8) * 7 + 1
IMG = torch.stack([_K[:, None].expand(32, 32), _K[None, :].expand(32, 32), torch.zeros(32, 32, dtype=torch.uint8)])

def _read(xb):
    "(row offset, column offset, flipped) of each augmented copy of IMG, read from its centre pixels."
    v = (xb * 255).round().long()
    flipped = v[:, 1, 16, 17] < v[:, 1, 16, 16]
    i = (v[:, 0, 16, 16] - 1) // 7 - 12
    j = (v[:, 1, 16, 16] - 1) // 7 - torch.where(flipped, 11, 12)
    return i, j, flipped

def _chi2_uniform(t, k):
    f = torch.bincount(t.long(), minlength=k).double()
    e = len(t) / k
    return ((f - e) ** 2 / e).sum().item()

def test_device_loader_draws_torchvision_crops_and_flips_with_the_same_distribution():
    from PIL import Image
    n = 3000
    torch.manual_seed(0)
    xd = next(iter(DeviceLoader(IMG.expand(n, 3, 32, 32), torch.zeros(n), n, pad=4, flip=True)))[0]
    tfm, pil = _tv_transform('cifar10', True, True), Image.fromarray(IMG.permute(1, 2, 0).numpy())
    xt = torch.stack([tfm(pil) for _ in range(n)])
    assert xd.shape == xt.shape == (n, 3, 32, 32) and xd.dtype == torch.float32
    assert xd.min() >= 0 and xd.max() <= 1
    (i, j, f), (it, jt, ft) = _read(xd), _read(xt)
    for a in range(300):                       # the same pixels as torchvision's pad + crop (+ flip) at those offsets
        ref = TF.crop(TF.pad(IMG, 4), int(i[a]), int(j[a]), 32, 32)
        assert torch.equal(xd[a], (TF.hflip(ref) if f[a] else ref).float() / 255)
    for a in range(300):                       # and the reader is right about torchvision's own outputs
        ref = TF.crop(TF.pad(IMG, 4), int(it[a]), int(jt[a]), 32, 32)
        assert torch.equal(xt[a], (TF.hflip(ref) if ft[a] else ref).float() / 255)
    # uniform offsets 0..8 and fair flips on both paths: chi-square below the 0.1 % critical value
    for t, k, crit in [(i, 9, 26.12), (j, 9, 26.12), (f, 2, 10.83), (it, 9, 26.12), (jt, 9, 26.12), (ft, 2, 10.83)]:
        assert _chi2_uniform(t, k) < crit
    assert len(set(zip(i.tolist(), j.tolist()))) == 81        # every one of the 81 crops occurs

def test_device_loader_contract():
    x = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    dl = DeviceLoader(x, torch.arange(10), 4, shuffle=True)
    assert len(dl) == 3 and sorted(torch.cat([b for _, b in dl]).tolist()) == list(range(10))
    assert len(DeviceLoader(x, torch.arange(10), 4, drop_last=True)) == 2
    xb, _ = next(iter(DeviceLoader(x, torch.arange(10), 10)))            # no augmentation: the images / 255
    assert torch.equal(xb, x.float() / 255)
    with pytest.raises(ValueError, match='uint8'): DeviceLoader(x.float(), torch.arange(10))
    with pytest.raises(ValueError, match='differ in length'): DeviceLoader(x, torch.arange(9))

def _write_cifar(root, n_train=20, n_test=10):
    d = root / 'cifar-10-batches-py'
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    def batch(n): return {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': rng.integers(0, 10, n).tolist()}
    for i in range(1, 6):
        with open(d / f'data_batch_{i}', 'wb') as f: pickle.dump(batch(n_train // 5), f)
    with open(d / 'test_batch', 'wb') as f: pickle.dump(batch(n_test), f)
    with open(d / 'batches.meta', 'wb') as f: pickle.dump({'label_names': [str(i) for i in range(10)]}, f)

def _images(dl): return sorted(tuple(x.flatten().tolist()) + (int(y),) for xb, yb in dl for x, y in zip(xb, yb))

def test_get_dls_on_device_holds_the_torchvision_data(tmp_path, monkeypatch):
    _write_cifar(tmp_path)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, '_check_integrity', lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)   # md5s of the real files
    kw = dict(batch_size=4, root=str(tmp_path), download=False, device='cpu', num_workers=0)
    assert not isinstance(get_dls('cifar10', **kw).train, DeviceLoader)      # on a CPU the default stays torchvision
    dev, tv = get_dls('cifar10', on_device=True, augment=False, **kw), get_dls('cifar10', augment=False, **kw)
    assert isinstance(dev.train, DeviceLoader) and len(dev.train) == len(tv.train) == 5
    assert _images(dev.train) == _images(tv.train) and _images(dev.valid) == _images(tv.valid)
    sub, tvsub = (get_dls('cifar10', n_train=8, n_valid=4, augment=False, on_device=o, **kw) for o in (True, False))
    assert _images(sub.train) == _images(tvsub.train) and _images(sub.valid) == _images(tvsub.valid)
    aug = get_dls('cifar10', on_device=True, **kw)
    assert (aug.train.pad, aug.train.flip) == (4, True) and (aug.valid.pad, aug.valid.flip) == (0, False)
    xb, yb = next(iter(aug.train))
    assert xb.shape == (4, 3, 32, 32) and 0 <= xb.min() and xb.max() <= 1 and yb.dtype == torch.int64
    with pytest.raises(ValueError, match="'imagenette'"): get_dls('imagenette', on_device=True, **kw)

def _guarded_ascent(monkeypatch, device=None):
    calls, loop = [], A._ascent
    def guarded(*a):
        calls.append(1)
        with no_host_sync(device): return loop(*a)
    monkeypatch.setattr(A, '_ascent', guarded)
    return calls

def test_pgd_loop_has_no_host_sync(monkeypatch, digits_model):
    m, x, y = digits_model
    ref = {(n, l): pgd(m, x, y, eps=0.1, steps=3, norm=n, loss=l, seed=0)
           for n in ('Linf', 'L2') for l in ('ce', 'kl', 'cw')}
    calls = _guarded_ascent(monkeypatch)
    for (n, l), xa in ref.items(): assert torch.equal(pgd(m, x, y, eps=0.1, steps=3, norm=n, loss=l, seed=0), xa)
    assert len(calls) == len(ref)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: torch.cuda.set_sync_debug_mode')
def test_pgd_loop_has_no_cuda_sync(monkeypatch, digits_model):
    m, x, y = digits_model
    m, x, y = m.cuda(), x.cuda(), y.cuda()
    calls = _guarded_ascent(monkeypatch, 'cuda')
    for l in ('ce', 'kl', 'cw'): pgd(m, x, y, eps=0.1, steps=3, loss=l)
    assert len(calls) == 3

def test_no_host_sync_catches_and_restores():
    t = torch.ones(3)
    with no_host_sync():
        with pytest.raises(HostSyncError): t.sum().item()
        with pytest.raises(HostSyncError):
            if t.sum() > 0: pass
        with pytest.raises(HostSyncError): t.tolist()
        u = torch.where(t > 0, t, -t)        # device work is fine
    assert t.sum().item() == 3 and bool(u.all())

def _bench(n):
    x, y = digits_tensors(True)
    set_seed(0)
    return [(x[i*64:(i+1)*64], y[i*64:(i+1)*64]) for i in range(n)], get_model('digits_resnet', dataset_info('digits'))

def _run(start, batches, obj, seed=0, **kw):
    m = copy.deepcopy(start)
    set_seed(seed)
    return m, train_steps(m, batches, obj, **kw)

def test_speed_options_match_fp32_under_standard_training():
    "ST (no attack): fp32 reorderings within 1e-4 / 1 % of the travel; bf16, fp16 within 0.01 / 20 %; aot_eager exact."
    batches, start = _bench(4)
    ref, rls = _run(start, batches, st_loss)
    for opts, dl, dw in [(dict(channels_last=True), 1e-4, 0.01), (dict(amp='bf16'), 0.01, 0.2),
                         (dict(amp='fp16'), 0.01, 0.2), (dict(amp='bf16', channels_last=True), 0.01, 0.2)]:
        m, ls = _run(start, batches, st_loss, **opts)
        assert max(abs(a - b) for a, b in zip(ls, rls)) < dl, opts
        assert weight_gap(m, ref, start) < dw, opts
    m, ls = _run(start, batches, st_loss, compile='aot_eager')
    assert ls == rls and weight_gap(m, ref, start) == 0

def test_speed_options_part_from_fp32_less_than_another_attack_seed():
    "AT: every option's weights part from fp32 by less than (1.5x, for other CPUs) another PGD random start's."
    batches, start = _bench(6)
    obj = partial(at_loss, attack=PGD(eps=0.25, steps=3))
    ref, _ = _run(start, batches, obj)
    floor = weight_gap(_run(start, batches, obj, seed=1)[0], ref, start)
    for opts in (dict(channels_last=True), dict(amp='bf16'), dict(amp='fp16')):
        assert weight_gap(_run(start, batches, obj, **opts)[0], ref, start) < 1.5 * floor, opts

def test_attack_accuracy_under_autocast():
    "PGD-10 at ε = 0.1 on a standard-trained digits model: adversarial accuracy within 2 points under autocast."
    from advcourse.learner import Learner
    set_seed(0)
    dls = get_dls('digits')
    m = get_model('digits_resnet', dls.info)
    Learner(m, dls, st_loss, lr=0.1).fit(3)
    m.eval()
    x, y = dls.valid.x, dls.valid.y
    def acc(dtype):
        with torch.autocast('cpu', dtype=dtype, enabled=dtype is not None):
            xa = pgd(m, x, y, eps=0.1, steps=10, seed=0)
            with torch.no_grad(): return (m(xa).argmax(1) == y).float().mean().item()
    a32 = acc(None)
    assert abs(acc(torch.bfloat16) - a32) <= 0.02 and abs(acc(torch.float16) - a32) <= 0.02

def test_time_epochs_on_cpu():
    rows = time_epochs(('trades', 'at'), preset='digits_tradeoff', n_train=64, batch_size=32, device='cpu',
                       amp='bf16', channels_last=True)
    assert [r['method'] for r in rows] == ['at', 'trades'] and rows[0]['vs_at'] == 1
    assert all(r['s_per_epoch'] > 0 and r['peak_mib'] is None for r in rows)

@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error on a machine without CUDA')
def test_cuda_asked_for_without_cuda_is_one_clear_error():
    with pytest.raises(ValueError, match="device='cuda' needs a CUDA GPU"): default_device("cuda")

def test_benchmark_script_cpu_modes():
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    run = lambda *a: subprocess.run([sys.executable, 'scripts/benchmark.py', '--device', 'cpu', *a], cwd=ROOT,
                                    capture_output=True, text=True, timeout=300, env=env)
    r = run('--mode', 'epoch', '--preset', 'digits_tradeoff', '--n-train', '64', '--batch', '32',
            '--methods', 'AT,AR-AT', '--amp', 'bf16', '--channels-last')
    assert r.returncode == 0, r.stderr
    assert 'arat' in r.stdout and 'goals: not checked' in r.stdout
    r = run('--skip-resnet', '--reps', '1', '--batch', '32', '--methods', 'AT,TRADES')   # the step benchmark, as before
    assert r.returncode == 0 and 'TRADES' in r.stdout and '÷ AT' in r.stdout, r.stderr
