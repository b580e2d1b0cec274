"Issue 8: every chapter has the course's shape — small cells, short lines, headings in their own cells, exercises."
import io, json, re, tokenize
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
CHAPTERS = sorted(p.stem for p in NBS.glob('[0-9][0-9]_*.ipynb'))

def _cells(name): return json.loads((NBS / f'{name}.ipynb').read_text(encoding='utf-8'))['cells']
def _src(c): return ''.join(c['source'])
def _out(c):
    return ''.join(''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', ''))
                   for o in c.get('outputs', []))

@pytest.mark.parametrize('name', CHAPTERS + ['index'])
def test_lines_are_short(name):
    long = [(i, l[:60]) for i, c in enumerate(_cells(name)) for l in _src(c).splitlines() if len(l) > 120]
    assert not long, f'lines over 120 characters: {long}'

@pytest.mark.parametrize('name', CHAPTERS)
def test_code_cells_are_small(name):
    big = [(i, len(_src(c).splitlines())) for i, c in enumerate(_cells(name))
           if c['cell_type'] == 'code' and len(_src(c).splitlines()) > 45]
    assert not big, f'code cells over ~40 lines (cell, lines): {big}'

@pytest.mark.parametrize('name', CHAPTERS)
def test_headings_have_their_own_cells(name):
    mixed = [i for i, c in enumerate(_cells(name)) if c['cell_type'] == 'markdown'
             and re.search(r'^##', _src(c), re.M) and len(_src(c).strip().splitlines()) > 1]
    assert not mixed, f'a "##" heading shares its cell with text: cells {mixed}'

@pytest.mark.parametrize('name', CHAPTERS)
def test_exported_cells_chain_no_statements(name):
    chained = []
    for i, c in enumerate(_cells(name)):
        s = _src(c)
        if c['cell_type'] != 'code' or not s.lstrip().startswith('#| export'): continue
        ops = [t for t in tokenize.generate_tokens(io.StringIO(s).readline) if t.type == tokenize.OP]
        chained += [(i, t.start[0]) for t in ops if t.string == ';']
    assert not chained, f'`;`-chained statements in exported cells (cell, line): {chained}'

@pytest.mark.parametrize('name', CHAPTERS)
def test_chapter_ends_with_exercises_and_their_checks(name):
    "The last `##` section is 'Exercises': 2-4 exercises, each with a check cell whose stored output says ok."
    cells = _cells(name)
    heads = [i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and _src(c).startswith('## ')]
    assert heads and _src(cells[heads[-1]]).strip() == '## Exercises', 'no "## Exercises" section at the end'
    checks = [c for c in cells[heads[-1] + 1:] if c['cell_type'] == 'code' and re.search(r'^ok\b', _out(c), re.M)]
    assert 2 <= len(checks) <= 4, f'{len(checks)} check cells print ok'

@pytest.mark.parametrize('name', CHAPTERS)
def test_teaching_cells_leave_the_pgd_step_to_its_default(name):
    "`PGD(eps=e)` means α = ε/4 (`attacks.step_size`): no chapter writes `alpha=EPS/4` by hand."
    hand = [_src(c)[:80] for c in _cells(name) if c['cell_type'] == 'code'
            and re.search(r'alpha\s*=\s*\(?\s*[\w.]+\s*\)?\s*/\s*4\b', _src(c))]
    assert not hand, hand
