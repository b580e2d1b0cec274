"Every chapter runs top to bottom on CPU (cells flagged `#| slow` are skipped), each in its own process."
import subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the longest chapters (the ladder) first, so that the two pytest-xdist workers finish together
NBS = sorted((p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith('_')), reverse=True)

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    nbdev_test = Path(sys.executable).with_name('nbdev_test')
    r = subprocess.run([str(nbdev_test) if nbdev_test.exists() else 'nbdev_test', '--path', str(nb)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
