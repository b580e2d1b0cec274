"Chapters 17 (AR-AT) and 18 (representations) have the course's shape (issue 8), and 18's exported tools behave."
import json, re
from pathlib import Path
import pytest, torch

NBS = Path(__file__).resolve().parents[1] / 'nbs'

def _cells(name):
    return json.loads((NBS / name).read_text(encoding='utf-8'))['cells']

def _src(c): return ''.join(c['source'])

def _is_slow(c): return any(l.replace(' ', '') == '#|slow' for l in _src(c).splitlines()[:3])

def _text_out(c):
    "Everything a code cell printed or displayed as text."
    out = []
    for o in c.get('outputs', []):
        out.append(''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', '')))
    return '\n'.join(out)

def _code(name, slow=False):
    return [c for c in _cells(name) if c['cell_type'] == 'code' and _is_slow(c) == slow]

def test_17_trains_arat_and_asym_trades_in_view_and_uses_the_runner_only_for_the_seed_table():
    code = _code('17_arat.ipynb')
    arat = [c for c in code if 'train_learner(' in _src(c) and 'ARAT(' in _src(c) and 'AutoBalanceCB()' in _src(c)]
    assert arat and 'convert_split_bn(' in _src(arat[0]), 'AR-AT is trained in view with train_learner'
    asym = [c for c in code if 'train_learner(' in _src(c) and "preset='asym_trades'" in _src(c)]
    assert asym, 'the asym_trades preset is trained in view'
    printed = '\n'.join(_text_out(c) for c in code)
    assert re.search(r'AR-AT: clean \d+\.\d\d  PGD-20 \d+\.\d\d', printed)
    assert re.search(r'Asym-TRADES +\d+\.\d\d +\d+\.\d\d', printed) and '85.62' in printed   # beside App. D's numbers
    assert re.search(r'alpha by epoch: 0\.\d\d', printed)
    assert any("get_config('cifar10_wrn34_10', method='arat').gamma" in _src(c) for c in code)
    assert not [c for c in code if re.search(r'(?<![\w.])run\(', _src(c))], 'cli.run only in the slow cells'

def test_17_stores_the_testbed_ladder_the_frontier_and_the_ablations():
    "Issue 9: three seeds of the ladder with its wall time, the frontier plot with its sweep values, the ablations."
    slow = _code('17_arat.ipynb', slow=True)
    out = {i: _text_out(c) for i, c in enumerate(slow)}
    ladder = [i for i, c in enumerate(slow) if 'seed_table(ladder)' in _src(c)]
    assert ladder, 'the ladder table is printed with seed_table'
    text = out[ladder[0]]
    for row in ('ST', 'AT', 'TRADES', 'V0', 'V1', 'V2', 'V3', 'AR-AT'): assert re.search(rf'^{row} +\d', text, re.M), row
    assert 'gap to ST' in text and 'grad-sim' in text
    wall = re.search(r'wall time of this cell: (\d+\.\d) min', text)
    assert wall and float(wall.group(1)) <= 40, 'the ladder prints a wall time within the 40-minute budget'
    plot = [c for c in slow if 'errorbar(' in _src(c)]
    assert plot and any('image/png' in o.get('data', {}) for o in plot[0].get('outputs', []))
    for knob in ("'train_eps'", "'trades_beta'", "'gamma'"): assert any(knob in _src(c) for c in slow), knob
    assert any('no auto-balance' in t and 'train-mode attack' in t for t in out.values())

def test_18_exports_the_representation_tools_and_demonstrates_each():
    cells = _cells('18_representations.ipynb')
    assert '#| default_exp diagnostics.representations' in _src(cells[0])
    names = ['collect_features', 'representation_similarity', 'linear_cka', 'embed_2d']
    exported = '\n'.join(_src(c) for c in cells if _src(c).startswith('#| export'))
    for n in names: assert f'def {n}(' in exported, n
    shown = [c for c in cells if c['cell_type'] == 'code' and not _src(c).startswith('#| export') and c.get('outputs')]
    for n in names: assert any(f'{n}(' in _src(c) for c in shown), f'{n} is not demonstrated with output'

def test_linear_cka_names_mismatched_rows():
    from advcourse.diagnostics import linear_cka
    X = torch.randn(20, 4)
    with pytest.raises(ValueError, match='one row per input'): linear_cka(X, X[:10])
    assert linear_cka(X, 2 * X) == pytest.approx(1.)

def test_representation_similarity_pairs_images_on_a_shuffled_loader():
    "Both passes see the same images: on a shuffled loader an identity 'attack' gives cos = 1."
    from advcourse.data import TensorLoader
    from advcourse.diagnostics import representation_similarity
    from advcourse.models import get_model
    from advcourse.data import dataset_info
    torch.manual_seed(0)
    m = get_model('digits_resnet', dataset_info('digits'))
    x, y = torch.rand(96, 1, 8, 8), torch.randint(0, 10, (96,))
    s = representation_similarity(m, TensorLoader(x, y, 32, shuffle=True), lambda model, x, y: x, m.penultimate)
    assert s == pytest.approx(1., abs=1e-6)
