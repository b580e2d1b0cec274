"Issue 8: a reader goes from chapter 00 to the last without meeting a name defined later."
import ast, importlib, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))

def _cells(nb):
    return [''.join(c['source']) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']

def _exports():
    "module name (as imported, e.g. 'advcourse.losses.at') -> the chapter file that exports it."
    out = {}
    for nb in CHAPTERS:
        for src in _cells(nb):
            m = re.search(r'#\|\s*default_exp\s+(\S+)', src)
            if m: out[f'advcourse.{m.group(1)}'] = nb.name
    return out

def _imports(src):
    "`(module, [names])` of every `advcourse` import in a cell (magics and shell lines dropped)."
    src = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(src)
    except SyntaxError: return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split('.')[0] == 'advcourse':
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split('.')[0] == 'advcourse']
    return out

def _home(module, name, exports):
    "The exported module that defines `module.name`; `name=None` (a plain `import module`): the package's last one."
    if module in exports: return module
    if name is None:                         # `import advcourse.losses`: everything the package re-exports
        subs = [m for m in exports if m.startswith(module + '.')]
        return max(subs, key=lambda m: exports[m]) if subs else module
    pkg = importlib.import_module(module)
    obj = getattr(pkg, name, None)
    if importlib.util.find_spec(f'{module}.{name}') is not None: return f'{module}.{name}'   # a submodule
    home = getattr(obj, '__module__', None)
    if home in exports: return home
    for sub in exports:                      # data (dicts, constants): the submodule whose __all__ has it
        if sub.startswith(module + '.') and name in getattr(importlib.import_module(sub), '__all__', []): return sub
    raise AssertionError(f'cannot tell which chapter defines {module}.{name}')

def test_the_walk_finds_every_chapter():
    assert len(CHAPTERS) >= 19 and [p.name[:2] for p in CHAPTERS] == sorted(p.name[:2] for p in CHAPTERS)
    assert len({p.name[:2] for p in CHAPTERS}) == len(CHAPTERS), 'two chapters share a number'

@pytest.mark.parametrize('nb', CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_forward_reference(nb):
    exports, order = _exports(), {p.name: i for i, p in enumerate(CHAPTERS)}
    late = []
    for src in _cells(nb):
        for module, names in _imports(src):
            if module == 'advcourse': continue           # the package itself: `__version__`
            for name in names or [None]:
                chap = exports.get(_home(module, name, exports))
                assert chap is not None, f'{nb.name}: {module}.{name} is exported by no chapter'
                if order[chap] > order[nb.name]: late.append(f'{module}.{name or ""} (chapter {chap})')
    assert not late, f'{nb.name} uses names defined later: {late}'

def test_the_walk_would_catch_a_forward_import(tmp_path):
    "The check itself: an import of chapter 12's runner in chapter 05 is reported."
    exports = _exports()
    assert exports['advcourse.cli'] > '05' and _home('advcourse.diagnostics', 'DriftCB', exports) == \
        'advcourse.diagnostics.drift'
    assert _imports('from advcourse.cli import run\nimport advcourse.losses.at as A') == \
        [('advcourse.cli', ['run']), ('advcourse.losses.at', [])]

def test_index_table_is_true():
    "index.ipynb's chapter table lists every chapter once, in order, with the module it really exports."
    src = '\n'.join(''.join(c['source']) for c in json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())['cells'])
    rows = re.findall(r'^\|\s*(\d+)\s*\|\s*`(\d\d_\w+)`\s*\|\s*([^|]*)\|', src, re.M)
    assert [nb for _, nb, _ in rows] == [p.stem for p in CHAPTERS], 'the table and nbs/ disagree'
    exports = {v: k for k, v in _exports().items()}
    for num, nb, mods in rows:
        assert int(nb[:2]) == int(num), (num, nb)
        listed = {m.strip('` ') for m in mods.split(',') if m.strip('` –-')}
        real = exports.get(f'{nb}.ipynb')
        assert listed == ({real.removeprefix('advcourse.')} if real else set()), (nb, listed, real)
