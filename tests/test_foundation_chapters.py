"Issue 8, the course shape of chapters 00-04: small cells, things built in steps, exercises with check cells."
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ['00_core', '01_data', '02_models', '03_attacks', '04_learner']

def _cells(name):
    nb = json.loads((ROOT / 'nbs' / f'{name}.ipynb').read_text(encoding='utf-8'))
    return [(c['cell_type'], ''.join(c['source'])) for c in nb['cells']]

def _exported(src): return any(l.replace(' ', '') == '#|export' for l in src.splitlines()[:3])

def _first(cells, pred):
    return next(i for i, (t, s) in enumerate(cells) if t == 'code' and pred(s))

def test_learner_is_built_in_steps():
    "A plain loop, then callbacks, then a draft with events (not exported), then the exported Learner in pieces."
    cells = _cells('04_learner')
    plain = _first(cells, lambda s: not _exported(s) and 'def fit_v1' in s)
    cbs = _first(cells, lambda s: _exported(s) and 'def run_cbs' in s)
    draft = _first(cells, lambda s: not _exported(s) and "self('before_epoch')" in s)
    final = _first(cells, lambda s: _exported(s) and 'class Learner' in s)
    assert plain < cbs < draft < final
    patched = [s for t, s in cells[final:] if t == 'code' and _exported(s) and '@patch' in s and 'self:Learner' in s]
    assert len(patched) >= 3, 'the Learner gets its extras one cell at a time'

def test_capture_is_built_in_steps():
    "A raw forward hook first (not exported), then the scoped context manager."
    cells = _cells('02_models')
    raw = _first(cells, lambda s: not _exported(s) and 'register_forward_hook' in s)
    final = _first(cells, lambda s: _exported(s) and 'def capture' in s)
    assert raw < final

def test_learner_public_api_is_unchanged():
    import advcourse.learner as L
    api = {'Learner', 'Callback', 'train_learner', 'piecewise', 'LRSchedCB', 'DeviceCB', 'MixedPrecisionCB', 'CSVLogger',
           'read_csv_log', 'ProgressCB', 'CheckpointCB', 'sgd', 'CancelBatchException', 'CancelEpochException',
           'CancelFitException', 'run_cbs'}
    assert api <= set(L.__all__)
    for m in ('fit', 'validate', 'state_dict', 'load_state_dict', 'params', 'add_cb', 'cb', '_one_batch', '_train_epoch'):
        assert callable(getattr(L.Learner, m)), m
    assert not {'fit', 'validate', 'state_dict'} & set(L.__all__)   # patched methods are not module-level names
