"Issue 8, chapters 05-08: evaluation before AT, AT evaluated in full, plots of chapter 06's runs, exercises, shape."
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
MINE = ['05_evaluate', '06_at', '07_metrics', '08_plots']

def _cells(name): return json.loads((NBS / f'{name}.ipynb').read_text())['cells']
def _src(c): return ''.join(c['source'])
def _code(name): return [_src(c) for c in _cells(name) if c['cell_type'] == 'code']
def _out(c): return ''.join(''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', ''))
                            for o in c.get('outputs', []))
def _is_export(src): return src.lstrip().startswith('#| export')

def test_05_trains_only_the_standard_model():
    code = '\n'.join(_code('05_evaluate'))
    assert code.count('train_learner(') == 1, 'chapter 05 trains the standard model only; AT is chapter 06'
    assert not re.search(r'\bat_loss\b|def at\(', code)

def test_06_evaluates_its_at_model_in_full():
    cells = [c for c in _cells('06_at') if c['cell_type'] == 'code']
    full = [c for c in cells if 'full_evaluation(at_model' in _src(c)]
    assert full, 'chapter 06 runs full_evaluation (PGD-20, CW, AutoAttack, checks) on its AT model'
    assert '[AutoAttack] robust accuracy' in _out(full[0])
    assert any('torchattacks' in _src(c) for c in cells)

def test_08_does_not_call_the_command_line():
    code = '\n'.join(_code('08_plots'))
    assert 'advcourse.cli' not in code and 'cli(' not in code

def _ch06_table():
    for c in _cells('06_at'):
        m = dict((k, (float(a), float(b))) for k, a, b in re.findall(r'^(ST|AT)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+$',
                                                                      _out(c), re.M))
        if m: return m

def test_08_plots_chapter_06s_runs_with_chapter_06s_numbers():
    ch06 = _ch06_table()
    assert ch06 and set(ch06) == {'ST', 'AT'}, ch06
    outs = '\n'.join(_out(c) for c in _cells('08_plots'))
    got = {k: (float(a), float(b)) for k, a, b in re.findall(r'^(ST|AT): clean ([\d.]+)\s+PGD-20 ([\d.]+)', outs, re.M)}
    assert got == ch06, (got, ch06)

@pytest.mark.parametrize('name,module', [('05_evaluate', 'advcourse.evaluate'), ('06_at', 'advcourse.losses.at'),
                                         ('07_metrics', 'advcourse.metrics'), ('08_plots', 'advcourse.plots')])
def test_every_exported_function_is_demonstrated(name, module):
    import importlib, inspect
    mod = importlib.import_module(module)
    names = [n for n in mod.__all__ if not n.startswith('_') and callable(getattr(mod, n))]
    used = '\n'.join(s for s in _code(name) if not _is_export(s))
    missing = [n for n in names if not re.search(rf'\b{n}\b', used)]
    assert not missing, f'{name}: no cell calls {missing}'
