"""Execute notebooks in place so their stored outputs are real runs, then `nbdev_clean` them.

    python scripts/run_nb.py nbs/06_at.ipynb [more.ipynb ...] [--slow] [--timeout 1800]

Cells flagged `#| slow` keep their stored outputs unless `--slow` is given (then they run too).
Each notebook runs in a fresh `python3` kernel with the repository root's `nbs/` as working folder.
"""
import argparse, copy, subprocess, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

def _is_slow(cell):
    return cell.cell_type == 'code' and any(l.strip().replace(' ', '') in ('#|slow', '#|eval:false')
                                            for l in cell.source.splitlines()[:3])

def run(path: Path, slow: bool, timeout: int):
    nb = nbformat.read(path, as_version=4)
    keep = {}
    for i, c in enumerate(nb.cells):
        if _is_slow(c) and not (slow and '#|slow' in c.source.replace(' ', '')):
            keep[i] = copy.deepcopy(c); c.source = 'pass'
    t0 = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for i, c in keep.items(): nb.cells[i] = c
    nb.metadata['kernelspec'] = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}
    nbformat.write(nb, path)
    subprocess.run([str(Path(sys.executable).with_name('nbdev_clean')), '--fname', str(path)], check=True)
    print(f'{path.name}: {time.time() - t0:.1f} s')

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('nbs', nargs='+'); p.add_argument('--slow', action='store_true'); p.add_argument('--timeout', type=int, default=3600)
    a = p.parse_args()
    for f in a.nbs: run(Path(f), a.slow, a.timeout)
