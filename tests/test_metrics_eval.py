import pytest, torch, torch.nn as nn, torch.nn.functional as F
from advcourse.metrics import ardist, nrr, sum_score
from advcourse.evaluate import AutoAttackEval, evaluate, full_evaluation, sanity_checks, cw_inf, pgd20
from advcourse.plots import PAPER_RESULTS, plot_tradeoff, robust_column, trade_off_table

ARREST_TAB1 = [  # (clean, AA, ARDist, curve)
    (87.14, 44.04, -1.500, 'cifar10'), (86.23, 53.58, 2.236, 'cifar10'), (85.57, 54.04, 2.314, 'cifar10'),
    (85.67, 54.10, 2.410, 'cifar10'), (88.22, 52.18, 2.706, 'cifar10'), (90.24, 50.20, 3.521, 'cifar10'),
    (59.59, 22.86, -3.268, 'cifar100'), (61.80, 29.03, 3.189, 'cifar100'), (60.38, 28.86, 2.424, 'cifar100'),
    (63.40, 27.60, 2.786, 'cifar100'), (70.25, 26.73, 6.639, 'cifar100'), (73.05, 24.32, 7.165, 'cifar100')]

AWP_CIFAR100 = (60.38, 28.86, 2.424, 'cifar100')

@pytest.mark.parametrize('n,r,want,curve', [t for t in ARREST_TAB1 if t != AWP_CIFAR100])
def test_ardist_reproduces_arrest_table1(n, r, want, curve):
    assert abs(ardist(n, r, curve) - want) <= 0.001      # printed to 3 decimals

def test_ardist_awp_cifar100_entry_is_the_known_misprint():
    assert ardist(60.38, 28.86, 'cifar100') == pytest.approx(2.434, abs=0.001)   # printed 2.424 in ARREST Tab. 1

CURE_TAB1 = [(85.17, 52.91, 65.27), (82.78, 49.72, 62.12), (84.73, 54.29, 66.17), (82.41, 50.43, 62.57),
             (83.62, 53.16, 64.99), (80.70, 49.35, 61.24), (86.60, 49.35, 62.87), (87.72, 49.66, 63.41),
             (83.06, 53.99, 65.44), (80.63, 51.60, 62.92), (85.24, 55.45, 67.19), (82.39, 51.96, 63.72), (87.05, 55.25, 67.60)]

@pytest.mark.parametrize('n,r,want', CURE_TAB1)
def test_nrr_reproduces_cure_table1(n, r, want):
    assert abs(nrr(n, r) - want) < 0.01

def test_nrr_cure_resnet18_entry_is_the_known_misprint():
    assert nrr(86.76, 52.48) == pytest.approx(65.40, abs=0.005)     # printed 65.04 in CURE Tab. 1

def test_metric_errors_and_sum():
    assert sum_score(87.14, 44.04) == pytest.approx(131.18)
    with pytest.raises(ValueError, match='clean=101'): nrr(101, 3)
    with pytest.raises(ValueError, match="'svhn'"): ardist(80, 40, 'svhn')
    assert ardist(50, 90) > 0 and ardist(95, 5) < 0

def test_autoattack_on_tiny_model(st_digits):
    # an untrained model is a bad subject: its one correct image has zero input gradient, so every AutoAttack
    # component (Square: 5,000 queries) runs to the end on it — minutes of CPU for nothing
    m, loader = st_digits            # conftest: briefly trained, not robust: AutoAttack ends after APGD-CE
    x, y = loader.x[:8], loader.y[:8]
    xa = AutoAttackEval(0.2, verbose=False)(m, x, y)
    assert (xa - x).abs().max() <= 0.2 + 1e-6 and xa.min() >= 0 and xa.max() <= 1
    row = evaluate(m, [(x, y)], attacks={'pgd20': pgd20(0.2), 'aa': AutoAttackEval(0.2, verbose=False)})
    assert row['clean'] > 50 and row['robust'] <= min(row['pgd20'], row['aa']) <= row['clean']

def test_sanity_checks_flag_inconsistent_rows(digits_model):
    m, x, y = digits_model
    bad = {'clean': 50., 'pgd20': 60., 'aa': 70., 'n': 32}
    checks = {c['check']: c['ok'] for c in sanity_checks(m, [(x, y)], bad, 0.1, verbose=False)}
    assert checks['robust <= clean'] is False and checks['AutoAttack <= PGD-20'] is False
    good = {'clean': 50., 'pgd20': 30., 'aa': 20., 'n': 32}
    checks = {c['check']: c['ok'] for c in sanity_checks(m, [(x, y)], good, 0.1, verbose=False)}
    assert checks['robust <= clean'] and checks['AutoAttack <= PGD-20']

def test_large_eps_check_runs_pgd_at_large_radius(digits_model):
    m, x, y = digits_model
    row = evaluate(m, [(x, y)], attacks={'pgd20': pgd20(0.1)})
    checks = {c['check']: c for c in sanity_checks(m, [(x, y)], row, 0.1, verbose=False)}
    assert 'eps=1' in checks['accuracy -> 0 at large eps']['detail']
    assert set(checks) == {'robust <= clean', 'accuracy -> 0 at large eps', 'more steps do not help'}   # no 'aa' column, no AA check

def test_cw_inf_is_pgd_on_margin():
    a = cw_inf(0.1)
    from advcourse.attacks import step_size
    assert a.loss == 'cw' and a.steps == 20 and step_size(a.eps, a.alpha) == pytest.approx(0.025)   # α: PGD's ε/4

def test_tradeoff_plot_keeps_digits_and_cifar_apart():
    rows = [dict(dataset='digits', model='digits_resnet', method='at', clean=97.5, pgd20=60., eps=0.25)]
    fig = plot_tradeoff(rows)
    titles = [a.get_title() for a in fig.axes]
    assert len(fig.axes) == 2 and 'digits' in titles[0] and 'cifar10' in titles[1] and 'papers only' in titles[1]
    assert trade_off_table(rows)[0]['ardist'] is None

# The papers' points and ARREST's curve are AutoAttack: a course row joins them, or gets an ARDist, only with its 'aa'.
PGD_ROW = dict(run='r', dataset='cifar10', model='resnet18', method='at', clean=87.14, pgd20=47.0, eps=8 / 255)
AA_ROW = dict(PGD_ROW, aa=44.04)

def _points(ax): return {tuple(map(float, p)) for c in ax.collections for p in c.get_offsets()}

def _shares_papers_axes(fig, point):
    paper = {(r['clean'], r['robust']) for r in PAPER_RESULTS}
    return [ax for ax in fig.axes if point in _points(ax) and _points(ax) & paper]

def test_robust_column_defaults_to_autoattack_only_when_every_row_has_it():
    assert robust_column([AA_ROW]) == 'aa' and robust_column([PGD_ROW]) == 'pgd20'
    assert robust_column([AA_ROW, PGD_ROW]) == 'pgd20' and robust_column([AA_ROW], 'pgd20') == 'pgd20'
    with pytest.raises(ValueError, match="robust='aa'"): robust_column([PGD_ROW], 'aa')

def test_pgd20_row_gets_no_ardist_and_aa_row_gets_its_own():
    assert trade_off_table([PGD_ROW])[0]['ardist'] is None
    assert trade_off_table([AA_ROW], robust='pgd20')[0]['ardist'] is None
    row = trade_off_table([AA_ROW])[0]
    assert row['robust_column'] == 'aa' and row['ardist'] == pytest.approx(-1.500, abs=1e-3)   # ARREST Tab. 1, AT
    assert row['sum'] == pytest.approx(87.14 + 44.04)

@pytest.mark.parametrize('rows,robust', [([PGD_ROW], None), ([AA_ROW], 'pgd20'), ([AA_ROW, dict(PGD_ROW, run='q')], None)])
def test_pgd20_row_never_on_the_papers_axes(rows, robust):
    import matplotlib.pyplot as plt
    fig = plot_tradeoff(rows, robust)
    try:
        assert not _shares_papers_axes(fig, (87.14, 47.0))
        ylabels = [ax.get_ylabel() for ax in fig.axes]
        assert 'PGD-20 accuracy (%)' in ylabels and 'AutoAttack accuracy (%)' in ylabels   # papers: their own panel
        assert not any(l.get_label().startswith('ARREST') for ax in fig.axes if _points(ax) >= {(87.14, 47.0)} for l in ax.lines)
    finally: plt.close(fig)

def test_aa_row_on_the_papers_axes_with_the_curve(tmp_path):
    import matplotlib.pyplot as plt
    fig = plot_tradeoff([AA_ROW], path=tmp_path / 'p.png')
    try:
        (ax,) = _shares_papers_axes(fig, (87.14, 44.04))
        assert len(fig.axes) == 1 and ax.get_ylabel() == 'AutoAttack accuracy (%)'
        assert any(l.get_label().startswith('ARREST cifar10 curve') for l in ax.lines)
        assert (tmp_path / 'p.png').stat().st_size > 0
    finally: plt.close(fig)
