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
    for mod in ['core', 'data', 'models', 'attacks', 'learner', 'evaluate', 'metrics', 'plots', 'splitbn',
                'diagnostics.conflict', 'diagnostics.drift', 'diagnostics.bnstats', 'diagnostics.representations',
                'losses.at', 'losses.trades', 'losses.invariance', 'losses.arat', 'losses.arrest', 'losses.cure', 'swa',
                'configs', 'cli', 'distributed', 'speed']:
        m = importlib.import_module(f'advcourse.{mod}')
        for name in getattr(m, '__all__', []):
            obj = getattr(m, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj): missing.append(f'{mod}.{name}')
    assert not missing, missing

def test_public_api_imports():
    from advcourse.losses import at_loss, st_loss
    from advcourse.attacks import pgd, fgsm, PGD
    assert callable(at_loss) and callable(pgd)

def _notebooks():
    return sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))

def test_every_notebook_has_a_python3_kernelspec():
    "Without one, JupyterLab opens every chapter with a 'Select Kernel' dialog (issue 7, item 9)."
    import json
    bad = [p.name for p in _notebooks()
           if json.loads(p.read_text(encoding='utf-8'))['metadata'].get('kernelspec', {}).get('name') != 'python3']
    assert not bad, f'no python3 kernelspec in {bad}: re-run them with scripts/run_nb.py'

def _requirements(key):
    import configparser, re
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    reqs = {}
    for r in cfg['DEFAULT'].get(key, '').split():
        name, spec = re.match(r'([A-Za-z0-9_.\-]+)(.*)', r).groups()
        reqs[name.lower().replace('_', '-')] = spec
    return reqs

def _runtime_imports():
    "Top-level modules a notebook imports unconditionally (unindented `import`/`from` lines of its code cells)."
    import json, re
    mods = set()
    for p in _notebooks():
        for c in json.loads(p.read_text(encoding='utf-8'))['cells']:
            if c['cell_type'] != 'code': continue
            for l in ''.join(c['source']).splitlines():
                m = re.match(r'(?:from|import)\s+([A-Za-z_]\w*)', l)
                if m: mods.add(m.group(1))
    return mods - set(sys.stdlib_module_names) - {'__future__', 'advcourse'}

def test_runtime_requirements_cover_the_notebooks_imports_with_the_tested_ranges():
    "A plain `pip install -e .` must give every package the chapters import, in the range the dev extras test (item 10)."
    from importlib.metadata import packages_distributions, version
    from packaging.specifiers import SpecifierSet
    req, dev, dists = _requirements('requirements'), _requirements('dev_requirements'), packages_distributions()
    names = {m: dists.get(m, [m])[0].lower().replace('_', '-') for m in _runtime_imports()}
    missing = sorted(f'{m} ({d})' for m, d in names.items() if d not in req)
    assert not missing, f'imported by notebooks but not in settings.ini requirements: {missing}'
    differ = {d: (req[d], dev[d]) for d in req if d in dev and SpecifierSet(req[d]) != SpecifierSet(dev[d])}
    assert not differ, f'requirements and dev_requirements disagree (requirements, dev): {differ}'
    untested = {d: (version(d), req[d]) for d in names.values() if version(d) not in SpecifierSet(req[d])}
    assert not untested, f'installed version outside the required range: {untested}'
    assert 'fastcore' in names.values() and 'playwright' in dev

_KNOWN = {'.', 'source', 'python', 'python3', 'pip', 'pip3', 'advcourse', 'pytest', 'jupyter', 'cd', 'git',
          'nbdev_export', 'nbdev_test', 'nbdev_clean', 'activate'}

def _blocks(lang):
    import re
    return re.findall(rf'^```{lang}\n(.*?)^```', (ROOT / 'README.md').read_text(encoding='utf-8'), re.M | re.S)

def _stray_lines(block):
    "Lines of a bash block that are neither a comment, a known command, nor the continuation of a line ending in `\\`."
    import shlex
    stray, cont = [], False
    for l in block.splitlines():
        s = l.strip()
        ok = not s or s.startswith('#') or cont
        if not ok:
            for seg in s.rstrip('\\').replace('&&', ';').replace('||', ';').replace('|', ';').split(';'):
                words = shlex.split(seg, comments=True)
                if words and words[0] not in _KNOWN and Path(words[0]).name not in _KNOWN: break
            else: ok = True
        if not ok: stray.append(l)
        cont = s.endswith('\\') and not s.startswith('#')
    return stray

def test_stray_line_check_catches_a_comment_without_hash():
    assert _stray_lines('# (a) install;\n    --methods st,at runs more\npip install -e .') == ['    --methods st,at runs more']
    assert _stray_lines('advcourse run \\\n    --methods st,at\n# done\n\n. .venv/bin/activate && pytest') == []

def test_readme_code_blocks_run_as_pasted():
    "Every ```bash block passes `bash -n` and has no stray line; every ```python block compiles (issue 7, 'Also')."
    bash, py = _blocks('bash'), _blocks('python')
    assert bash and py
    for b in bash:
        r = subprocess.run(['bash', '-n'], input=b, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + b
        assert not _stray_lines(b), f'stray lines (not a comment, not a known command): {_stray_lines(b)}\n{b}'
    for b in py: compile(b, 'README.md', 'exec')

def _library_files():
    return sorted(p for p in (ROOT / 'advcourse').rglob('*.py') if p.name != '_modidx.py')   # _modidx: nbdev's index

def test_library_lines_are_short_and_statements_unchained():
    "Issue 8, library item 5: lines <= 120 characters, no `;`-chained statements (read with `tokenize`, not a regex)."
    import tokenize
    long, chained = [], []
    for p in _library_files():
        rel = p.relative_to(ROOT).as_posix()
        lines = p.read_text(encoding='utf-8').splitlines()
        long += [f'{rel}:{i}' for i, l in enumerate(lines, 1)
                 if len(l) > 120 and not (l.startswith('__all__ = ') and lines[i - 2] == '# %% auto #0')]  # nbdev's
        with p.open('rb') as f:
            chained += [f'{rel}:{t.start[0]}' for t in tokenize.tokenize(f.readline)
                        if t.type == tokenize.OP and t.string == ';']
    assert not long, f'lines over 120 characters: {long}'
    assert not chained, f'`;`-chained statements: {chained}'

def test_the_line_check_sees_a_semicolon(tmp_path):
    "The check itself: a `;` in a string is not a statement separator, one between statements is."
    import io, tokenize
    ops = lambda src: [t.string for t in tokenize.tokenize(io.BytesIO(src.encode()).readline) if t.type == tokenize.OP]
    assert ';' not in ops("s = 'a; b'\n") and ';' in ops("a = 1; b = 2\n")

def _chapter_table():
    "Rows `(chapter, notebook, module)` of the chapter table in nbs/index.ipynb."
    import json, re
    cells = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text(encoding='utf-8'))['cells']
    md = '\n\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    md = md.split('## The course', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'^\| (\d+) \| `(\w+)` \| `?([\w.]+|–)`? \|', md, re.M)

def test_index_chapter_table_lists_every_notebook_with_its_number_and_module():
    "The README's course map is the notebooks' own: every chapter once, in order, with the module it exports (issue 8)."
    import json, re
    want = []
    for p in _notebooks():
        if p.stem == 'index': continue
        src = '\n'.join(''.join(c['source']) for c in json.loads(p.read_text(encoding='utf-8'))['cells'])
        m = re.search(r'#\|\s*default_exp\s+(\S+)', src)
        want.append((str(int(p.stem.split('_')[0])), p.stem, m.group(1) if m else '–'))
    assert _chapter_table() == want
