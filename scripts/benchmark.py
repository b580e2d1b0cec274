"""Seconds per training step of ST, AT (PGD-10), TRADES, the invariance ladder V0-V3, AR-AT, ARREST and CURE, on the digits model
and on CIFAR-shaped ResNet-18 batches (synthetic tensors), as ratios to AT measured in the same run; and this
project's PGD against torchattacks.PGD on the same batch (if installed: `pip install --no-deps torchattacks`).
Not a test: it prints measurements.

With `--mode epoch` (the default on CUDA) it times instead whole training epochs of a preset (ResNet-18 on
CIFAR-10-shaped synthetic data by default: 50,000 random uint8 images, cropped and flipped on the device) per
method, as `advcourse run` builds them, with the peak GPU memory and the ratio to AT (`advcourse.speed.time_epochs`),
and checks the goals of issue 12: an AT epoch <= 15 s (one H100, bf16 + channels-last), AR-AT <= 1.10x and
TRADES <= 1.15x AT.

Usage: python scripts/benchmark.py [--device cuda] [--reps 5] [--batch 128] [--skip-resnet]
       python scripts/benchmark.py --device cuda [--mode epoch] [--methods AT,TRADES,AR-AT] [--amp bf16]
                                   [--channels-last] [--compile] [--preset cifar10_resnet18] [--n-train 50000]
"""
import argparse, time
from functools import partial
import torch, torch.nn.functional as F
from advcourse.attacks import PGD, pgd
from advcourse.core import default_device, set_seed
from advcourse.data import dataset_info
from advcourse.learner import sgd
from advcourse.losses import at_loss, st_loss, trades_loss, trades_attack, ladder_objective, ARAT
from advcourse.losses.arrest import ARREST
from advcourse.losses.cure import CURE, RGPMaskCB, RevisionCB
from types import SimpleNamespace
from advcourse.splitbn import convert_split_bn
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

def cure_step_fn(model, opt, obj, x, y):
    "A whole CURE step: objective with RGP scores, backward, mask, step, restore the masked weights, revision (r = 1)."
    mask, rev = RGPMaskCB(30.), RevisionCB(r=1.)
    learn = SimpleNamespace(objective=obj, model=model, log={}, epoch=0, n_epochs=1)
    mask.before_epoch(learn); rev.before_epoch(learn)
    def f():
        loss, _ = obj(model, x, y); loss.backward()
        mask.after_backward(learn); opt.step(); mask.after_step(learn); rev.after_step(learn)
        opt.zero_grad(set_to_none=True)
    return f

def _model(name, ds, dev, split=False):
    set_seed(0)
    model = get_model(name, dataset_info(ds))
    if split: convert_split_bn(model)
    model = model.to(dev).train()
    return model.to(memory_format=torch.channels_last) if dev.type == 'cuda' else model

def bench(name, ds, shape, eps, args, dev):
    info = dataset_info(ds)
    x = torch.rand(args.batch, *shape, device=dev); y = torch.randint(0, 10, (args.batch,), device=dev)
    atk = PGD(eps=eps, steps=10)   # α = ε/4
    def objective(method, model):
        if method == 'ST': return st_loss
        if method == 'AT': return partial(at_loss, attack=atk)
        if method == 'TRADES': return partial(trades_loss, attack=trades_attack(eps), beta=6.)
        if method == 'AR-AT': return ARAT(model, attack=PGD(eps=eps, bn_mode='eval'), input_shape=info.shape).to(dev)
        if method == 'ARREST':   # the worst case: replay's student forward is timed, but τ ≈ 2 replays nothing, so
            # every example is attacked (a replayed example skips PGD: real steps with replay are cheaper)
            return ARREST(model, attack=PGD(eps=eps, bn_mode='eval'), lam=50., phi=179.).to(dev)
        if method == 'CURE': return CURE(model, attack=trades_attack(eps), alpha=0.1).to(dev)   # TRADES' attack
        return ladder_objective(model, method, eps, input_shape=info.shape, attack_bn_mode='eval').to(dev)
    res = {}
    for method in args.methods.split(','):
        model = _model(name, ds, dev, split=method in ('V3', 'AR-AT'))
        obj = objective(method, model)
        params = [p for p in list(model.parameters()) + (list(obj.parameters()) if isinstance(obj, torch.nn.Module) else [])
                  if p.requires_grad]
        step = cure_step_fn if method == 'CURE' else step_fn
        res[method] = time_it(step(model, sgd(params, 0.01), obj, x, y), dev, args.reps)
    at = res.get('AT')
    print(f"{name} batch {args.batch} (all attacks in eval mode, so only the objectives differ):")
    for m, t in res.items():
        print(f"  {m:7s} {t*1e3:9.1f} ms/step" + (f"   ÷ AT = {t/at:.2f}" if at else '')
              + (f"   ÷ TRADES = {t/res['TRADES']:.2f}" if m == 'CURE' and 'TRADES' in res else ''))
    model = _model(name, ds, dev)
    try:
        import torchattacks
    except ImportError:
        print('  torchattacks not installed: skipping the PGD comparison (pip install --no-deps torchattacks)'); return
    model.eval()
    ta = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=True)
    t_ours = time_it(lambda: pgd(model, x, y, eps=eps, alpha=eps / 4, steps=10), dev, args.reps)
    t_ta = time_it(lambda: ta(x, y), dev, args.reps)
    print(f"  PGD-10 attack only: advcourse {t_ours*1e3:.1f} ms, torchattacks {t_ta*1e3:.1f} ms, ratio advcourse/torchattacks {t_ours/t_ta:.2f}")

GOALS = {'at_seconds': 15., 'arat': 1.10, 'trades': 1.15}   # issue 12: one H100, bf16 + channels-last

def epochs(args, dev):
    "Whole epochs per method (`time_epochs`), the table and the goals."
    from advcourse.speed import show_times, time_epochs
    methods = [m.strip().lower().replace('ar-at', 'arat') for m in args.methods.split(',')]
    print(f"{args.preset}: {args.n_train} synthetic images, batch {args.batch}, amp {args.amp or 'fp32'}, "
          f"channels_last {args.channels_last}, compile {args.compile}")
    rows = time_epochs(methods, args.preset, args.n_train, args.batch, dev, args.amp, args.channels_last, args.compile)
    print(show_times(rows))
    if (args.preset, args.n_train, args.batch) != ('cifar10_resnet18', 50_000, 128):
        print('goals: not checked (they are for cifar10_resnet18, 50,000 images, batch 128)')
        return
    r = {row['method']: row for row in rows}
    print(f"goal: AT epoch <= {GOALS['at_seconds']:.0f} s: {r['at']['s_per_epoch']:.1f} s "
          f"({'met' if r['at']['s_per_epoch'] <= GOALS['at_seconds'] else 'missed'}; the goal is for one H100, bf16 + channels-last)")
    for m in ('arat', 'trades'):
        if m in r: print(f"goal: {m} <= {GOALS[m]:.2f} x AT: {r[m]['vs_at']:.2f} ({'met' if r[m]['vs_at'] <= GOALS[m] else 'missed'})")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None); p.add_argument('--reps', type=int, default=5)
    p.add_argument('--batch', type=int, default=128); p.add_argument('--skip-resnet', action='store_true')
    p.add_argument('--methods', default='ST,AT,TRADES,V0,V1,V2,V3,AR-AT,ARREST,CURE',
                   help='comma-separated: ST, AT, TRADES, V0-V3, AR-AT, ARREST, CURE (epoch mode: any METHODS name)')
    p.add_argument('--mode', choices=['step', 'epoch'], default=None,
                   help='step: ms per step of both models (default on CPU); epoch: whole epochs (default on CUDA)')
    p.add_argument('--preset', default='cifar10_resnet18', help='epoch mode: the PRESETS config (data shape, model, eps)')
    p.add_argument('--n-train', type=int, default=50_000, help='epoch mode: images per epoch')
    p.add_argument('--amp', choices=['bf16', 'fp16'], default=None, help='epoch mode: autocast (fp16 adds a GradScaler)')
    p.add_argument('--channels-last', action='store_true', help='epoch mode: channels-last model and batches')
    p.add_argument('--compile', action='store_true', help='epoch mode: torch.compile the model (compile time excluded)')
    args = p.parse_args()
    try: dev = default_device(args.device)
    except ValueError as e: p.error(str(e))
    print(f'device: {dev} ({torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} CPU threads"}), torch {torch.__version__}')
    if (args.mode or ('epoch' if dev.type == 'cuda' else 'step')) == 'epoch':
        epochs(args, dev)
        raise SystemExit
    if args.amp or args.channels_last or args.compile:
        p.error('--amp, --channels-last and --compile belong to --mode epoch')
    bench('digits_resnet', 'digits', (1, 8, 8), 0.25, args, dev)
    if not args.skip_resnet:
        reps = args.reps
        if dev.type == 'cpu': args.reps = 1
        bench('resnet18', 'cifar10', (3, 32, 32), 8 / 255, args, dev)
        args.reps = reps
