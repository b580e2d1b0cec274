"""Dry runs (a first part of issue 12): every method builds and trains 2 steps on random data of its preset's shape.

Every method on the digits presets and CIFAR-10 ResNet-18 here; the larger models (WRN-34-10, Imagenette at 128 px)
take minutes per preset on 2 CPU cores, so CI checks them through the command below (WRN-34-10 AR-AT)."""
import pytest
from advcourse.cli import cli, dry_run
from advcourse.configs import METHODS, get_config

@pytest.mark.parametrize('preset', ['digits', 'digits_tradeoff', 'cifar10_resnet18'])
def test_every_method_of_a_preset_dry_runs(preset):
    for method in METHODS:
        r = dry_run(get_config(preset, method=method))
        assert r['moved'] > 0, (preset, method, r)          # the optimiser stepped (masked CURE steps too)

def test_the_command_prints_the_resolved_gamma(capsys):
    cli(['run', '--preset', 'cifar10_wrn34_10', '--methods', 'arat', '--dry-run'])
    out = capsys.readouterr().out
    assert '  gamma = 100.0\n' in out and 'dry run ok: arat on wrn34_10' in out
    cli(['run', '--preset', 'cifar10_resnet18', '--methods', 'arat', '--dry-run'])
    assert '  gamma = 30.0\n' in capsys.readouterr().out
