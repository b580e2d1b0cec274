"Issue 8, chapters 15 (V2) and 16 (V3): their tools live in their own modules, they train in view, end in exercises."
import json, os, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = Path(os.environ.get('ADVCOURSE_NBS', ROOT / 'nbs'))    # point at another copy of the notebooks to compare

def _cells(name):
    return json.loads((NBS / name).read_text())['cells']

def _src(c): return ''.join(c['source'])

def _out(c):
    txt = []
    for o in c.get('outputs', []):
        txt.append(''.join(o.get('text', '')))
        txt.append(''.join(o.get('data', {}).get('text/plain', '')))
    return ''.join(txt)

CHAPTERS = {   # notebook: (module it exports, presets trained in view)
    '15_v2_predictor.ipynb': ('diagnostics.drift', ['V1', 'V2']),
    '16_v3_splitbn.ipynb': ('diagnostics.bnstats', ['V2', 'V3', 'splitbn_only', 'stopgrad_splitbn']),
}

def test_tools_live_in_the_modules_of_their_chapters():
    "DriftCB in diagnostics.drift (15), BNStatsCB and the runner's probe set in diagnostics.bnstats (16)."
    import importlib
    from advcourse.cli import DIAGNOSTICS
    from advcourse.diagnostics import bnstats, drift
    assert 'DriftCB' in drift.__all__ and {'BNStatsCB', 'diagnostic_cbs'} <= set(bnstats.__all__)
    module, name = DIAGNOSTICS.split(':')
    assert getattr(importlib.import_module(module), name) is bnstats.diagnostic_cbs

@pytest.mark.parametrize('nb', list(CHAPTERS))
def test_chapter_exports_its_module(nb):
    assert f'#| default_exp {CHAPTERS[nb][0]}' in _src(_cells(nb)[0])

@pytest.mark.parametrize('nb', list(CHAPTERS))
def test_chapter_trains_every_step_in_view(nb):
    "Each ladder step is one visible `train_learner` call on a `ladder_objective`; the runner only in slow cells."
    code = [c for c in _cells(nb) if c['cell_type'] == 'code']
    for preset in CHAPTERS[nb][1]:
        cells = [c for c in code if re.search(rf"ladder_objective\(\w+, '{preset}'", _src(c))]
        assert cells, f'{nb}: no ladder_objective(..., {preset!r}) cell'
        c = cells[0]
        assert 'train_learner(' in _src(c) and _out(c) is not None and c.get('outputs'), (nb, preset)
        if preset in ('V3', 'splitbn_only', 'stopgrad_splitbn'): assert 'convert_split_bn(' in _src(c), preset
    fast = [c for c in code if not _src(c).lstrip().startswith('#| slow')]
    assert not any(re.search(r'(?<![\w.])run\(', _src(c)) for c in fast), f'{nb}: the cached runner outside a slow cell'

