"""Write README.md from nbs/index.ipynb: markdown cells verbatim, visible code cells as Python blocks.

nbdev's own `nbdev_readme` needs Quarto, which these machines cannot install; this script is the
repo's replacement, and `tests/test_repo.py` checks that README.md is what it produces.
Usage: python scripts/make_readme.py [--check]
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if not src: continue
        if c['cell_type'] == 'markdown':
            parts.append(src)
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(l.strip().startswith('#| hide') for l in lines): continue
            code = '\n'.join(l for l in lines if not l.startswith('#|'))
            parts.append(f'```python\n{code}\n```')
    md = '\n\n'.join(parts) + '\n'
    return '<!-- generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file -->\n\n' + md

if __name__ == '__main__':
    text = render()
    readme = ROOT / 'README.md'
    if '--check' in sys.argv:
        ok = readme.exists() and readme.read_text(encoding='utf-8') == text
        print('README.md is in sync' if ok else 'README.md is out of date: run python scripts/make_readme.py')
        sys.exit(0 if ok else 1)
    readme.write_text(text, encoding='utf-8')
    print(f'wrote {readme}')
