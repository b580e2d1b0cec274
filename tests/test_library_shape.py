"Issue 8, the library: one training attack, one objective shape, helpers on the floor they belong on."
import inspect
import pytest, torch
from advcourse.attacks import PGD, pgd

# --- 1. the training attack is built in one place: PGD's default step is ε/4

def test_pgd_default_step_is_a_quarter_of_eps(digits_model):
    m, x, y = digits_model
    ref = pgd(m, x, y, eps=0.2, alpha=0.05, steps=1, random_start=False)
    assert torch.equal(pgd(m, x, y, eps=0.2, steps=1, random_start=False), ref)
    assert torch.equal(PGD(eps=0.2, steps=1, random_start=False)(m, x, y), ref)

def test_config_builds_the_arat_attack_once():
    "The config's attack reaches AR-AT as built (an L2 config trains with L2), with no attack replaced afterwards."
    from advcourse import configs
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    cfg = configs.get_config(method='arat', norm='L2', eps=1.5, steps=3, alpha=0.3)
    info = dataset_info('digits')
    obj, _ = configs.build(cfg, get_model('digits_resnet', info), info)
    assert (obj.attack.norm, obj.attack.eps, obj.attack.steps, obj.attack.alpha) == ('L2', 1.5, 3, 0.3)
    from advcourse.losses.arat import arat_method
    assert 'attack =' not in inspect.getsource(arat_method)    # built once, not replaced

def test_arat_takes_its_attack():
    from advcourse.data import dataset_info
    from advcourse.losses import ARAT
    from advcourse.models import get_model
    from advcourse.splitbn import convert_split_bn
    info = dataset_info('digits')
    atk = PGD(eps=0.25, bn_mode='train')
    obj = ARAT(convert_split_bn(get_model('digits_resnet', info)), attack=atk, input_shape=info.shape)
    assert obj.attack is atk

def test_resolved_config_keeps_filling_alpha():
    "The run-folder hashes of the cached runs depend on the resolved α: it stays ε/4, as a number."
    from advcourse.configs import get_config
    assert get_config(eps=0.25).alpha == 0.25 / 4 and get_config(eps=0.25, alpha=0.1).alpha == 0.1

# --- 2. one objective shape: (loss, parts), no out-parameters; AR-AT is a preset; explicit layers beat a preset's

def _split_model():
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    from advcourse.splitbn import convert_split_bn
    info = dataset_info('digits')
    torch.manual_seed(0)
    return convert_split_bn(get_model('digits_resnet', info)), info

def test_invariance_loss_has_no_out_parameter_and_the_objective_keeps_its_terms(digits_model):
    from advcourse.losses import Invariance, invariance_loss
    assert 'terms_out' not in inspect.signature(invariance_loss).parameters
    m, x, y = digits_model
    m.train()
    atk = PGD(eps=0.1, steps=1)
    obj = Invariance(m, attack=atk, preset='V1')
    loss, parts = obj(m, x, y)
    t = obj.last_terms
    assert set(t) == {'cls', 'inv'} and t['cls'].requires_grad and t['inv'].requires_grad   # graphs kept
    torch.testing.assert_close(loss, t['cls'] + obj.gamma * t['inv'])
    assert not any(v.requires_grad for v in parts.values())

def test_arat_is_a_preset_of_invariance():
    from advcourse.losses import ARAT, Invariance, LADDER
    m, info = _split_model()
    assert 'AR-AT' in LADDER
    obj = Invariance(m, attack=PGD(eps=0.25), preset='AR-AT', input_shape=info.shape)
    assert obj.preset == 'AR-AT' and obj.layers == m.last_stage_relus and obj.predictors is not None
    assert obj.switches['split_bn'] and obj.switches['stop_grad']
    assert 'preset =' not in inspect.getsource(ARAT)             # no factory patching the preset afterwards
    assert ARAT(m, attack=PGD(eps=0.25), input_shape=info.shape).preset == 'AR-AT'

def test_explicit_layers_beat_the_presets():
    from advcourse.losses import Invariance
    m, info = _split_model()
    assert Invariance(m, attack=PGD(eps=0.25), preset='asym_trades').layers == 'logits'
    assert Invariance(m, attack=PGD(eps=0.25), preset='asym_trades', layers=m.penultimate).layers == m.penultimate
    obj = Invariance(m, attack=PGD(eps=0.25), preset='AR-AT', layers=m.penultimate, input_shape=info.shape)
    assert obj.layers == m.penultimate and list(obj.predictors) == [m.penultimate.replace('.', '__')]

# --- 3. helpers at the floor they belong on

def test_model_helpers_live_in_core_once():
    import advcourse.attacks as attacks, advcourse.core as core
    for name in ('switch_mode', 'seeded', 'check_seed', 'model_device', 'first_n'): assert name in core.__all__
    assert not {'switch_mode', 'seeded', 'check_seed'} & set(attacks.__all__)     # no re-export
    src = '\n'.join(p.read_text() for p in _library_files())
    assert 'next(model.parameters()).device' not in src and 'parameters()).device' not in src
    assert 'def _batches' not in src

def test_first_n_and_model_device():
    from advcourse.core import first_n, model_device
    batches = [(torch.zeros(4, 1), torch.arange(4)) for _ in range(3)]
    assert [len(y) for _, y in first_n(batches, 6)] == [4, 2] and len(list(first_n(batches, None))) == 3
    assert model_device(torch.nn.Linear(2, 2)) == torch.device('cpu')

def test_switch_mode_names_its_argument_mode():
    from advcourse.core import switch_mode
    with pytest.raises(ValueError, match="mode='half'"):
        with switch_mode(torch.nn.Linear(2, 2), 'half'): pass

# --- 4. split-BN out of the attack and the evaluation; the objective that routes restores the route

def _library_root():
    "The folder of the `advcourse` that is imported (so the test can be pointed at another version of the package)."
    import advcourse
    from pathlib import Path
    return Path(advcourse.__file__).parent

def _library_files():
    root = _library_root()
    return [p for p in sorted(root.rglob('*.py')) if p.name != '_modidx.py']

def test_attacks_and_evaluate_do_not_know_split_bn():
    root = _library_root()
    for mod in ('attacks.py', 'evaluate.py'):
        src = (root / mod).read_text()
        assert 'splitbn' not in src and 'bn_route' not in src, mod

def _routes(model):
    from advcourse.splitbn import DualBatchNorm2d
    return {d.route for d in model.modules() if isinstance(d, DualBatchNorm2d)}

@pytest.mark.parametrize('preset', ['V3', 'AR-AT'])
def test_invariance_attacks_through_main_bns_and_restores_the_route(preset, digits_model):
    from advcourse.losses import Invariance
    m, info = _split_model()
    _, x, y = digits_model
    m.train()
    seen = []
    pgd2 = PGD(eps=0.1, steps=2, bn_mode='train')
    def attack(model, x, y):
        seen.append(_routes(model))
        return pgd2(model, x, y)
    obj = Invariance(m, attack=attack, preset=preset, input_shape=info.shape)
    obj(m, x, y)
    assert seen == [{'adv'}] and _routes(m) == {'adv'}
    class Boom(Exception): pass
    def boom(mod, inp):
        if mod.route == 'clean': raise Boom()
    from advcourse.splitbn import DualBatchNorm2d
    h = next(d for d in m.modules() if isinstance(d, DualBatchNorm2d)).register_forward_pre_hook(boom)
    with pytest.raises(Boom): obj(m, x, y)              # fails inside the clean forward...
    h.remove()
    assert _routes(m) == {'adv'}                           # ... and the route is back on the main BNs

# --- issue 8, library item 2: methods own their wiring; configs holds data; the runner trains through train_learner

def test_configs_and_cli_do_not_import_the_methods():
    "configs names each method's builder by a string; neither it nor the runner imports a method or a diagnostic."
    import re
    from advcourse import cli, configs
    for mod in (configs, cli):
        src = inspect.getsource(mod)
        imports = re.findall(r'^\s*(?:from|import)\s+(?:advcourse|\.)\.?((?:losses|diagnostics)\S*)(.*)$', src, re.M)
        # only the ε warm-up, a schedule of any objective's training attack (chapter 06), is not a method
        assert all(m == 'losses.at' and names.strip() == 'import EpsWarmupCB' for m, names in imports), imports
    assert 'predictors' not in inspect.getsource(cli) and 'convert_split_bn(model)' not in inspect.getsource(configs)

def test_every_method_has_a_builder_with_defaults():
    from advcourse.configs import METHODS, get_config, method_builder
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    from advcourse.losses import LADDER
    assert {p.lower() for p in LADDER if p != 'AR-AT'} | {'st', 'at', 'trades', 'arat', 'arrest', 'cure', 'cure_eff', 'at_ft', 'arat_swa'} == set(METHODS)
    info = dataset_info('digits')
    for m in METHODS:
        b = method_builder(m)
        assert callable(b) and isinstance(b.defaults(get_config(method=m)), dict), m
        obj, cbs = b(get_config(method=m), get_model('digits_resnet', info), info)
        assert callable(obj) and isinstance(cbs, list), m

def test_run_trains_through_train_learner(monkeypatch, tmp_path):
    "`cli.run` calls the same `train_learner` the chapters call."
    from advcourse import cli
    from advcourse.configs import get_config
    calls = []
    real = cli.train_learner
    def spy(*a, **kw):
        calls.append(kw)
        return real(*a, **kw)
    monkeypatch.setattr(cli, 'train_learner', spy)
    cli.run(get_config(method='st', epochs=1, n_train=64, eval_n=32), out=tmp_path, progress=False)
    assert len(calls) == 1 and calls[0]['checkpoint'].name == 'ckpt.pt'

def test_load_run_reads_split_bn_from_the_checkpoint(tmp_path):
    "A split-BN run loads without building its objective (no predictors are sized, no attack is built)."
    from advcourse import cli
    from advcourse.configs import get_config
    from advcourse.splitbn import has_split_bn
    cfg = get_config(method='v3', epochs=1, n_train=64, eval_n=32, steps=1)
    cli.run(cfg, out=tmp_path, progress=False)
    assert has_split_bn(cli.load_run(cfg, out=tmp_path))
    assert 'build(' not in inspect.getsource(cli.load_run)
    st = get_config(method='st', epochs=1, n_train=64, eval_n=32)
    cli.run(st, out=tmp_path, progress=False)
    assert not has_split_bn(cli.load_run(st, out=tmp_path))
