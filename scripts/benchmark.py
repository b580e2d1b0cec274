"""Seconds per training step of ST and AT (PGD-10) on the digits model and on CIFAR-shaped ResNet-18 batches
(synthetic tensors), and this project's PGD against torchattacks.PGD on the same batch (if installed:
`pip install --no-deps torchattacks`). Not a test: it prints measurements.

Usage: python scripts/benchmark.py [--device cuda] [--reps 5] [--batch 128] [--skip-resnet]
"""
import argparse, time
from functools import partial
import torch, torch.nn.functional as F
from advcourse.attacks import PGD, pgd
from advcourse.core import default_device, set_seed
from advcourse.data import dataset_info
from advcourse.learner import sgd
from advcourse.losses import at_loss, st_loss
from advcourse.models import get_model

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def time_it(fn, dev, reps, warmup=1):
    for _ in range(warmup): fn()
    sync(dev); t = time.perf_counter()
    for _ in range(reps): fn()
    sync(dev); return (time.perf_counter() - t) / reps

def step_fn(model, opt, objective, x, y):
    def f():
        loss, _ = objective(model, x, y); loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    return f

def bench(name, ds, shape, eps, args, dev):
    set_seed(0)
    model = get_model(name, dataset_info(ds)).to(dev).train()
    if dev.type == 'cuda': model = model.to(memory_format=torch.channels_last)
    opt = sgd(model.parameters(), 0.01)
    x = torch.rand(args.batch, *shape, device=dev); y = torch.randint(0, 10, (args.batch,), device=dev)
    atk = PGD(eps=eps, alpha=eps / 4, steps=10)
    res = {m: time_it(step_fn(model, opt, obj, x, y), dev, args.reps) for m, obj in
           [('ST', st_loss), ('AT', partial(at_loss, attack=atk))]}
    print(f"{name:14s} batch {args.batch}: ST {res['ST']*1e3:8.1f} ms/step   AT {res['AT']*1e3:8.1f} ms/step   AT/ST {res['AT']/res['ST']:.2f}")
    try:
        import torchattacks
    except ImportError:
        print('  torchattacks not installed: skipping the PGD comparison (pip install --no-deps torchattacks)'); return
    model.eval()
    ta = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=True)
    t_ours = time_it(lambda: pgd(model, x, y, eps=eps, alpha=eps / 4, steps=10), dev, args.reps)
    t_ta = time_it(lambda: ta(x, y), dev, args.reps)
    print(f"  PGD-10 attack only: advcourse {t_ours*1e3:.1f} ms, torchattacks {t_ta*1e3:.1f} ms, ratio advcourse/torchattacks {t_ours/t_ta:.2f}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None); p.add_argument('--reps', type=int, default=5)
    p.add_argument('--batch', type=int, default=128); p.add_argument('--skip-resnet', action='store_true')
    args = p.parse_args()
    dev = default_device(args.device)
    print(f'device: {dev} ({torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} CPU threads"}), torch {torch.__version__}')
    bench('digits_resnet', 'digits', (1, 8, 8), 0.25, args, dev)
    if not args.skip_resnet:
        reps = args.reps
        if dev.type == 'cpu': args.reps = 1
        bench('resnet18', 'cifar10', (3, 32, 32), 8 / 255, args, dev)
        args.reps = reps
