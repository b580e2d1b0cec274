"Issue 9 groundwork: the testbed preset (half-width digits model, ε warm-up) and the cached run names it keeps."
import pytest
from advcourse.configs import get_config
from advcourse.learner import read_csv_log

def test_adding_eps_warmup_keeps_the_cached_run_names():
    "A field added later hashes only when set: every run cached before it keeps its folder."
    assert get_config(method='at').name == 'digits_digits_resnet_at_s0_2c408920'        # the name before the field
    assert get_config(method='arat').name == 'digits_digits_resnet_arat_s0_581cdc07'
    assert get_config(method='at', eps_warmup=5).name != get_config(method='at').name

def test_testbed_preset_resolves_to_its_recipe():
    c = get_config('digits_tradeoff', method='v3')
    assert (c.model, c.eps, c.eps_warmup, c.epochs, c.batch_size, c.lr) == ('digits_small', 0.4, 10, 30, 32, 0.05)
    assert (c.attack_bn_mode, c.gamma) == ('eval', 30.)           # eval-mode attack for every method, ladder γ 30
    assert get_config('digits_tradeoff', method='arat').gamma == 30.

def test_runner_warms_eps_up(tmp_path):
    "The training attack's ε grows linearly over `eps_warmup` epochs and is logged; evaluation is at the full ε."
    from advcourse.cli import run
    cfg = get_config('digits_tradeoff', method='at', epochs=3, eps_warmup=2, n_train=64, eval_n=32, steps=1)
    res = run(cfg, out=tmp_path, progress=False)
    log = read_csv_log(tmp_path / cfg.name / 'log.csv')
    assert [round(r['train_eps'], 3) for r in log] == [0.2, 0.4, 0.4]
    assert res['eps'] == 0.4

def test_bad_warmup_is_refused():
    with pytest.raises(ValueError, match='eps_warmup=-1'): get_config(eps_warmup=-1)

def test_train_eps_moves_only_the_training_attack(tmp_path):
    "`train_eps` sets the training radius (α = train_eps/4, the warm-up ramps to it); evaluation stays at ε."
    from advcourse.cli import run
    base = get_config('digits_tradeoff', method='at')
    assert get_config('digits_tradeoff', method='at', train_eps=0.4).name == base.name   # = ε: the same run
    c = get_config('digits_tradeoff', method='at', train_eps=0.3)
    assert c.name != base.name and (c.attack().eps, c.attack().alpha) == (0.3, 0.075)
    cfg = get_config('digits_tradeoff', method='at', train_eps=0.2, epochs=3, eps_warmup=2, n_train=64, eval_n=32,
                     steps=1)
    res = run(cfg, out=tmp_path, progress=False)
    log = read_csv_log(tmp_path / cfg.name / 'log.csv')
    assert [round(r['train_eps'], 3) for r in log] == [0.1, 0.2, 0.2]
    assert res['eps'] == 0.4 and res['config']['train_eps'] == 0.2

def test_trades_reads_train_eps():
    from advcourse.configs import build
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    cfg = get_config('digits_tradeoff', method='trades', train_eps=0.3)
    obj, _ = build(cfg, get_model(cfg.model, dataset_info('digits')), dataset_info('digits'))
    assert obj.keywords['attack'].eps == 0.3

def test_auto_balance_switch():
    "AR-AT without auto-balance keeps α = β = 1 (no callback); the switch names a new run only when off."
    from advcourse.configs import build
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    info = dataset_info('digits')
    on = get_config('digits_tradeoff', method='arat')
    off = get_config('digits_tradeoff', method='arat', auto_balance=False)
    assert on.name == get_config('digits_tradeoff', method='arat', auto_balance=True).name != off.name
    (o1, cb1), (o2, cb2) = build(on, get_model(on.model, info), info), build(off, get_model(off.model, info), info)
    assert [type(c).__name__ for c in cb1] == ['AutoBalanceCB'] and cb2 == []
    assert (o2.alpha, o2.beta) == (1., 1.)
    with pytest.raises(ValueError, match="auto_balance='no'"): get_config(auto_balance='no')
    with pytest.raises(ValueError, match='train_eps=-0.1'): get_config(train_eps=-0.1)

def _nb_outputs(name):
    import json
    from pathlib import Path
    cells = json.loads((Path(__file__).resolve().parents[1] / 'nbs' / name).read_text())['cells']
    return [''.join(''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', ''))
                    for o in c.get('outputs', [])) for c in cells if c['cell_type'] == 'code']

def test_06_stores_the_testbed_trade_off_over_three_seeds():
    "Issue 9's acceptance: the stored AT chapter shows ST − AT clean >= 5 over 3 seeds, PGD-20 >= 40, and AutoAttack."
    import re
    outs = _nb_outputs('06_at.ipynb')
    table = [o for o in outs if 'wall time of the three seeds' in o]
    assert table, 'the three-seed cell has a stored output'
    seeds = re.findall(r'^([012])\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)', table[0], re.M)
    assert [s[0] for s in seeds] == ['0', '1', '2']
    st, at, pgd, gap = (sum(float(s[i]) for s in seeds) / 3 for i in (1, 2, 3, 4))
    assert abs(gap - (st - at)) < 0.01 and gap >= 5 and pgd >= 40, (st, at, pgd, gap)
    assert any(re.search(r"eps=0\.4: \{'clean': [\d.]+, 'pgd20': [\d.]+, 'cw': [\d.]+, 'aa': [\d.]+", o) for o in outs)
