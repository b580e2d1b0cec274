"""Dry runs (issue 12): every preset × method builds its model, objective and callbacks and trains 2 steps on random
data of the preset's shape on the CPU; the command prints the resolved config (γ = 100 on WRN-34-10)."""
import pytest
from advcourse.cli import cli, dry_run
from advcourse.configs import METHODS, PRESETS, get_config

# one item per preset × method, the heaviest presets first, so that the two pytest-xdist workers finish together
ORDER = sorted(PRESETS, key=lambda p: ('wrn' not in p, 'imagenette' not in p, p))
CASES = [(p, m) for p in ORDER for m in METHODS]

@pytest.mark.parametrize('preset,method', CASES, ids=[f'{p}-{m}' for p, m in CASES])
def test_every_preset_and_method_dry_runs(preset, method):
    r = dry_run(get_config(preset, method=method))
    assert r['moved'] > 0, (preset, method, r)              # the optimiser stepped (masked CURE steps too)

def test_the_command_prints_the_resolved_gamma(capsys):
    cli(['run', '--preset', 'cifar10_wrn34_10', '--methods', 'arat', '--dry-run'])
    out = capsys.readouterr().out
    assert '  gamma = 100.0\n' in out and 'dry run ok: arat on wrn34_10' in out
    cli(['run', '--preset', 'cifar10_resnet18', '--methods', 'arat', '--dry-run'])
    assert '  gamma = 30.0\n' in capsys.readouterr().out
