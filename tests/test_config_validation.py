"Every RunConfig field is checked when the config is made; bad command lines end in one line, before any data loading."
import dataclasses, subprocess, sys, urllib.request
from pathlib import Path
from urllib.error import URLError
import pytest
import torch
import advcourse.cli as cli_mod
from advcourse.cli import cli
from advcourse.configs import RunConfig, get_config

# --- γ per model, visible in the resolved config (issue 7 item 1) ---

def test_gamma_depends_on_the_model():
    assert get_config('cifar10_wrn34_10', method='arat').gamma == 100
    assert get_config('cifar10_resnet18', method='arat').gamma == 30
    assert get_config('digits', method='arat').gamma == 30              # what the CPU chapters train with
    assert get_config('cifar10_wrn34_10', method='arat', gamma=30.).gamma == 30   # an explicit value wins

def test_resolved_config_shows_what_is_used():
    d = dataclasses.asdict(get_config('cifar10_wrn34_10', method='arat'))
    assert (d['gamma'], d['alpha'], d['attack_bn_mode'], d['multi_level']) == (100., 2 / 255, 'train', True)
    d = dataclasses.asdict(get_config('digits', method='at'))
    assert (d['alpha'], d['attack_bn_mode'], d['gamma']) == (0.0625, 'eval', None)   # AT has no γ
    assert get_config('digits', method='v1').multi_level is False

def test_run_name_ignores_evaluation_only_fields():
    base = get_config('digits', method='arat')
    assert base.name == get_config('digits', method='arat', eval_n=10, autoattack=20, device='cpu').name
    assert base.name == RunConfig(method='arat').name                   # unresolved and resolved: one folder
    assert base.name != get_config('digits', method='arat', gamma=10.).name

# --- every field is validated when the config is made (issue 7 item 11) ---

BAD = {'dataset': 'mnist', 'model': 'vgg', 'method': 'madry', 'epochs': 0, 'batch_size': 0, 'lr': 0.,
       'warmup_epochs': -1, 'eps': -0.1, 'alpha': float('nan'), 'steps': -2, 'norm': 'L3', 'attack_bn_mode': 'test',
       'trades_beta': -1., 'gamma': 'abc', 'multi_level': 'yes', 'diagnostics': None, 'eval_n': 0, 'n_train': 0,
       'amp': 'fp8', 'device': 'gpu', 'seed': -1, 'autoattack': -5, 'eps_warmup': -1,
       'train_eps': -0.1, 'auto_balance': 'yes', 'rgkd_lambda': -1., 'replay_phi': 180., 'replay_frac': 1.5,
       'aft_epochs': 0, 'cure_beta': -1., 'cure_gamma': -0.5, 'rgp_p': 100., 'rgp_alpha': 1.5, 'rgp_signed': 'no',
       'rgp_layers': 'middle', 'rgp_exact': 1, 'revision_r': 1.2, 'revision_d': 1., 'cure_warmup': -1,
       'update_stages': 'U-23', 'reinit': 'yes', 'track_best': -1, 'weight_decay': -5e-4,
       'pretrain_epochs': 0, 'swa_start': -1, 'swa_every': 0, 'lr_drops': (0.9, 0.75), 'compile': 'yes',
       'sync_bn': 1}

def test_every_field_has_a_bad_value_here():
    assert set(BAD) == {f.name for f in dataclasses.fields(RunConfig)}

@pytest.mark.parametrize('field', sorted(BAD))
def test_bad_field_is_one_value_error_naming_it(field):
    with pytest.raises(ValueError) as e: get_config('digits', **{field: BAD[field]})
    msg = str(e.value)
    assert f'{field}={BAD[field]!r}' in msg and '\n' not in msg, msg

@pytest.mark.parametrize('field,value', [('epochs', 2.5), ('steps', True), ('batch_size', '64'), ('lr', float('inf'))])
def test_wrong_types_are_rejected(field, value):
    with pytest.raises(ValueError, match=field): get_config('digits', **{field: value})

# --- the main job: one line, non-zero exit, before any data is loaded ---

CASES = [(['--set', 'gamma=abc'], "gamma='abc'"), (['--set', 'steps=-2'], 'steps=-2'),
         (['--set', 'norm=L3'], "norm='L3'"), (['--batch-size', '0'], 'batch_size=0'),
         (['--set', 'n_train=0'], 'n_train=0'), (['--epochs', '0'], 'epochs=0'), (['--set', 'lr=-1'], 'lr=-1'),
         (['--set', 'steps=2.5'], "steps='2.5'"), (['--eval-n', '0'], 'eval_n=0'), (['--autoattack', '-1'], 'autoattack=-1'),
         (['--set', 'attack_bn_mode=test'], "attack_bn_mode='test'"), (['--seeds', '0,x'], "'0,x'"),
         (['--methods', 'madry'], "'madry'"), (['--set', 'dataset=mnist'], "'mnist'"), (['--set', 'model=vgg'], "'vgg'"),
         (['--set', 'epoch=3'], "'epoch'"), (['--set', 'lr_drops=0.5,x'], "lr_drops='0.5,x'"),
         (['--set', 'lr_drops=0.9,0.5'], 'lr_drops=(0.9, 0.5)')]

@pytest.fixture
def no_data(monkeypatch):
    def loaded(*a, **k): raise AssertionError('data was loaded before the config was checked')
    monkeypatch.setattr(cli_mod, 'get_dls', loaded)

@pytest.mark.parametrize('argv,text', CASES, ids=[' '.join(a) for a, _ in CASES])
def test_bad_command_line_exits_with_one_line(argv, text, no_data, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli(['run', '--epochs', '1', '--methods', 'at', '--out', str(tmp_path), '--quiet', *argv])
    msg = e.value.code
    assert isinstance(msg, str) and msg.startswith('advcourse: error: ') and text in msg and '\n' not in msg, msg

def _console():
    exe = Path(sys.executable).with_name('advcourse')
    return str(exe) if exe.exists() else 'advcourse'

@pytest.mark.parametrize('argv,text', [(['--set', 'gamma=abc'], "gamma='abc'"), (['--batch-size', '0'], 'batch_size=0')])
def test_console_command_prints_no_traceback(argv, text, tmp_path):
    out = subprocess.run([_console(), 'run', '--epochs', '1', '--quiet', '--out', str(tmp_path), *argv],
                         capture_output=True, text=True, timeout=120)
    err = out.stderr.strip()
    assert out.returncode != 0 and 'Traceback' not in err and len(err.splitlines()) == 1 and text in err, out.stderr

def test_offline_download_names_the_folder(tmp_path, monkeypatch):
    def offline(*a, **k): raise URLError('no network (simulated)')
    monkeypatch.setattr(urllib.request, 'urlopen', offline)            # offline even where the internet works
    monkeypatch.chdir(tmp_path)                                        # the default data folder is ./data
    with pytest.raises(SystemExit) as e:
        cli(['run', '--preset', 'cifar10_resnet18', '--methods', 'at', '--epochs', '1', '--quiet', '--out', 'runs'])
    msg = e.value.code
    assert isinstance(msg, str) and '\n' not in msg, msg
    assert 'could not download' in msg and "'cifar10'" in msg and '--preset digits' in msg, msg
    assert str((tmp_path / 'data' / 'cifar-10-batches-py').resolve()) in msg, msg

@pytest.mark.parametrize('name,folder', [('cifar100', 'cifar-100-python'), ('svhn', ''), ('imagenette', 'imagenette2-160')])
def test_get_dataset_offline_error(name, folder, tmp_path, monkeypatch):
    from advcourse.data import DownloadError, get_dataset
    def offline(*a, **k): raise URLError('no network (simulated)')
    monkeypatch.setattr(urllib.request, 'urlopen', offline)
    with pytest.raises(DownloadError) as e: get_dataset(name, train=False, root=str(tmp_path))
    assert str((tmp_path / folder).resolve()) in str(e.value) and repr(name) in str(e.value)

@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_gpu_device_on_a_cpu_machine_says_so(no_data, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli(['run', '--epochs', '1', '--methods', 'at', '--out', str(tmp_path), '--device', 'cuda'])
    assert "device='cuda' needs a CUDA GPU" in str(e.value) and '\n' not in str(e.value)
