"Shape of chapters 09, 10, 13 and 14 (issue 8): exercises with checks, training in view, no forward references."
import ast, json, os, re
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
NBS = Path(os.environ.get('ADVCOURSE_NBS', ROOT / 'nbs'))     # another folder of notebooks, to check an old tree
CHAPTERS = ['09_trades', '10_splitbn', '13_v0_naive', '14_v1_stopgrad']

def _cells(name):
    return [(c['cell_type'], ''.join(c['source'])) for c in json.loads((NBS / f'{name}.ipynb').read_text())['cells']]

def _code(name): return [s for t, s in _cells(name) if t == 'code']

def _slow(src): return any(l.replace(' ', '') == '#|slow' for l in src.splitlines()[:3])

def _in_view(name):
    "Code cells that `nbdev_test` runs: the `slow` testbed sections (issue 9) may use the cached runner of chapter 12."
    return [s for s in _code(name) if not _slow(s)]

def _exported(src): return src.lstrip().startswith('#| export')

def _imports(src):
    "Modules a code cell imports (cells with IPython syntax are skipped by the caller)."
    mods = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom) and node.module: mods.append(node.module)
        elif isinstance(node, ast.Import): mods += [a.name for a in node.names]
    return mods

def test_v0_chapter_does_not_use_the_later_diagnostics_and_trains_in_view():
    mods = [m for s in _in_view('13_v0_naive') for m in _imports(s)]
    assert not any(m.startswith('advcourse.diagnostics') for m in mods)
    assert all(m.split('.')[1] in {'attacks', 'configs', 'core', 'data', 'models', 'splitbn', 'learner',
                                   'evaluate', 'losses'} for m in mods if m.startswith('advcourse.'))
    src = '\n'.join(_code('13_v0_naive'))
    assert re.search(r"train_learner\(v0_model, dls, ladder_objective\(v0_model, 'V0'", src)
    assert 'build(cfg' in src and "method='v0'" in src                    # ladder_method, through configs.build

def test_v1_chapter_exports_the_conflict_tools_and_trains_three_presets_in_view():
    cells = _cells('14_v1_stopgrad')
    assert cells[0][1].splitlines()[-1].strip() == '#| default_exp diagnostics.conflict'
    src = '\n'.join(_in_view('14_v1_stopgrad'))
    for preset in ('V0', 'V1', 'reverse'):
        assert re.search(rf"train_learner\((\w+), dls, ladder_objective\(\1, '{preset}', eps=EPS\)", src), preset
    assert 'cli import run' not in src                                  # no cached runner for one seed
    order = [i for i, (t, s) in enumerate(cells) if t == 'code' and _exported(s)
             for n in ('def grad_conflict', 'class GradConflictCB', 'class FeatureDistanceCB') if n in s]
    assert len(order) == 3 and order == sorted(order)
    assert not any('Tools exported by this chapter' in s for _, s in cells)

def test_make_predictors_restores_each_submodules_mode():
    "HEAD set the whole model back with `model.train(was)`, waking a submodule that was frozen in eval mode."
    from advcourse.losses.invariance import make_predictors
    from advcourse.data import dataset_info
    from advcourse.models import get_model
    m = get_model('digits_resnet', dataset_info('digits')).train()
    m.layer1.eval()
    make_predictors(m, m.penultimate, dataset_info('digits').shape)
    assert m.training and not m.layer1.training and all(not x.training for x in m.layer1.modules())

def test_conflict_tools_live_in_their_chapter_module():
    from advcourse.diagnostics import conflict
    from advcourse.diagnostics import GradConflictCB, FeatureDistanceCB, grad_conflict
    assert conflict.GradConflictCB is GradConflictCB and conflict.grad_conflict is grad_conflict
    assert conflict.FeatureDistanceCB is FeatureDistanceCB
    w = torch.zeros(3, requires_grad=True)
    r = conflict.grad_conflict((w * torch.tensor([1., -1., 2.])).sum(), (w * torch.tensor([1., 1., -2.])).sum(), [w])
    assert r['conflict'] == pytest.approx(2 / 3)
