"The library, the notebooks and the README agree: nbdev_export and nbdev_clean change nothing, README is generated."
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _copy(tmp):
    dst = tmp / 'repo'
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns('.venv', 'venv', '.git', 'runs', 'data', '__pycache__', '*.egg-info'))
    return dst

def _tree(p):
    return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob('*')) if f.is_file() and '__pycache__' not in f.parts}

def test_export_leaves_library_unchanged(tmp_path):
    d = _copy(tmp_path)
    before = _tree(d / 'advcourse')
    subprocess.run(['nbdev_export'], cwd=d, check=True, capture_output=True)
    after = _tree(d / 'advcourse')
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f'nbdev_export changed {changed}: run nbdev_export and commit'

def test_notebooks_are_clean(tmp_path):
    d = _copy(tmp_path)
    before = _tree(d / 'nbs')
    subprocess.run(['nbdev_clean'], cwd=d, check=True, capture_output=True)
    after = _tree(d / 'nbs')
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f'nbdev_clean changed {changed}: run nbdev_clean and commit'

def test_readme_in_sync():
    r = subprocess.run([sys.executable, 'scripts/make_readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout

def test_every_exported_name_has_a_docstring():
    import importlib, inspect
    missing = []
    for mod in ['core', 'data', 'models', 'attacks', 'learner', 'evaluate', 'metrics', 'plots', 'splitbn', 'diagnostics',
                'losses.at', 'losses.trades', 'losses.invariance', 'losses.arat', 'configs', 'cli']:
        m = importlib.import_module(f'advcourse.{mod}')
        for name in getattr(m, '__all__', []):
            obj = getattr(m, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj): missing.append(f'{mod}.{name}')
    assert not missing, missing

def test_public_api_imports():
    from advcourse.losses import at_loss, st_loss
    from advcourse.attacks import pgd, fgsm, PGD
    assert callable(at_loss) and callable(pgd)
