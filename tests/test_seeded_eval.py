"Evaluation is seeded (issue 7, item 5): the same weights give the same numbers, and the caller's RNG is untouched."
import pytest, torch, torch.nn.functional as F
from advcourse.attacks import PGD
from advcourse.evaluate import evaluate, pgd20, cw_inf, standard_attacks, full_evaluation

# `st_digits` (conftest): a 3-epoch standard model — PGD-20 at ε = 0.1 leaves it partly robust, so starts matter

def _attacks(): return {'pgd20': pgd20(0.1), 'cw': cw_inf(0.1)}

def test_same_model_twice_gives_identical_numbers(st_digits):
    m, loader = st_digits
    a, b = evaluate(m, loader, _attacks()), evaluate(m, loader, _attacks())
    assert 0 < a['pgd20'] < a['clean'] and 0 < a['cw'] < a['clean']     # not a degenerate 0 % / 100 % row
    assert a == b

def test_unseeded_attacks_inside_evaluate_are_reproducible(st_digits):
    m, loader = st_digits
    atk = {'pgd': PGD(eps=0.1, alpha=0.025, steps=2)}        # no seed of its own: evaluate's seed fixes its random starts
    assert evaluate(m, loader, atk) == evaluate(m, loader, atk)
    torch.manual_seed(1); a = evaluate(m, loader, atk)        # ... whatever state the caller's RNG is in
    torch.manual_seed(2); assert evaluate(m, loader, atk) == a

def test_caller_rng_is_untouched(st_digits):
    m, loader = st_digits
    torch.manual_seed(123); state = torch.get_rng_state()
    evaluate(m, loader, _attacks(), n=64)
    assert torch.equal(torch.get_rng_state(), state)
    evaluate(m, loader, {'pgd': PGD(eps=0.1, alpha=0.025, steps=2)}, n=64, seed=5)
    assert torch.equal(torch.get_rng_state(), state)

def test_different_seeds_can_differ(st_digits):
    m, loader = st_digits
    atk = {'pgd': PGD(eps=0.1, alpha=0.025, steps=2)}
    rows = [evaluate(m, loader, atk, seed=s)['pgd'] for s in range(4)]
    assert len(set(rows)) > 1, rows

def test_seed_none_uses_the_callers_rng(st_digits):
    m, loader = st_digits
    atk = {'pgd': PGD(eps=0.1, alpha=0.025, steps=2)}
    torch.manual_seed(7); a = evaluate(m, loader, atk, seed=None)
    torch.manual_seed(7); assert evaluate(m, loader, atk, seed=None) == a
    state = torch.get_rng_state(); evaluate(m, loader, atk, seed=None)
    assert not torch.equal(torch.get_rng_state(), state)      # the random starts came from the caller's stream

def test_pgd20_and_cw_carry_the_seed():
    assert pgd20(0.1).seed == 0 and pgd20(0.1, seed=3).seed == 3 and pgd20(0.1, seed=None).seed is None
    assert cw_inf(0.1).seed == 0 and cw_inf(0.1, seed=4).seed == 4
    atks = standard_attacks(0.1, autoattack=True, verbose=False, seed=2)
    assert atks['pgd20'].seed == atks['cw'].seed == atks['aa'].seed == 2

def test_full_evaluation_is_reproducible(st_digits):
    m, loader = st_digits
    a = full_evaluation(m, loader, eps=0.1, n=64, autoattack=False, verbose=False)
    b = full_evaluation(m, loader, eps=0.1, n=64, autoattack=False, verbose=False)
    assert a == b

def test_sanity_checks_pgd20_is_the_rows_pgd20(st_digits):
    m, loader = st_digits                                          # one seed: the check re-runs the row's PGD-20 exactly
    row = full_evaluation(m, loader, eps=0.1, n=128, autoattack=False, verbose=False)
    detail = {c['check']: c['detail'] for c in row['checks']}['more steps do not help']
    assert f"PGD-20 {row['pgd20']:.2f} (same starts)" in detail, (detail, row['pgd20'])
