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
