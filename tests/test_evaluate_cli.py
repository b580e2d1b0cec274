import subprocess, sys, pytest, torch
from pathlib import Path
from advcourse.evaluate import evaluate, pgd20
from advcourse.configs import get_config
from advcourse.cli import _parser, cli

def test_evaluate_worst_case_and_subset(digits_model):
    m, x, y = digits_model
    loader = [(x[:16], y[:16]), (x[16:], y[16:])]
    r = evaluate(m, loader, attacks={'a': pgd20(0.1), 'b': pgd20(0.5, 'L2')}, n=20)
    assert r['n'] == 20 and r['robust'] <= min(r['a'], r['b']) <= 100

def test_evaluate_clean_matches_hand_count(digits_model):
    m, x, y = digits_model
    with torch.no_grad(): expected = 100 * (m(x).argmax(1) == y).float().mean().item()
    assert evaluate(m, [(x, y)], attacks={}, n=None)['clean'] == pytest.approx(expected)

def test_help_explains_every_option():
    sub = _parser()._subparsers._group_actions[0].choices['run']
    for a in sub._actions:
        if a.dest != 'help': assert a.help, a.dest
    exe = Path(sys.executable).with_name('advcourse')           # the installed console command
    out = subprocess.run([str(exe) if exe.exists() else 'advcourse', 'run', '--help'], capture_output=True, text=True)
    assert out.returncode == 0 and '--methods' in out.stdout and '--preset' in out.stdout

def test_unknown_config_key_and_values():
    with pytest.raises(ValueError, match="'epoch'"): get_config('digits', epoch=1)
    with pytest.raises(ValueError, match="eps=-0.5"): get_config('digits', eps=-0.5)
    with pytest.raises(SystemExit, match="'cifar11'"): cli(['run', '--set', 'dataset=cifar11', '--epochs', '1'])

def test_cli_autoattack_writes_aa(tmp_path):
    import csv, json
    # ST, 2 epochs: accurate but not robust, so AutoAttack ends after APGD-CE (a near-chance model can keep a
    # zero-gradient image that every component, Square's 5,000 queries included, runs on to the end)
    rows = cli(['run', '--methods', 'st', '--epochs', '2', '--set', 'n_train=512', '--eval-n', '20', '--autoattack', '20',
                '--out', str(tmp_path), '--quiet'])
    r = rows[0]
    assert r['n_aa'] == 20 and 0 <= r['aa'] <= r['clean']
    res = json.loads((tmp_path / r['run'] / 'result.json').read_text())
    assert res['aa'] == r['aa'] and res['config']['autoattack'] == 20
    assert {'aa', 'n_aa'} <= set(next(csv.reader(open(tmp_path / 'results.csv'))))

def test_cli_without_autoattack_has_no_aa(tmp_path):
    from advcourse.cli import format_table
    row = dict(method='at', dataset='digits', model='digits_resnet', eps=0.25, clean=50., pgd20=20., train_s=1.)
    assert 'AA' not in format_table([row]) and 'AA' in format_table([row, {**row, 'aa': 10., 'n_aa': 20}])
