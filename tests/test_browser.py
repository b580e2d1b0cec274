"""What a student sees in JupyterLab, in headless Chromium: chapter 03's attack explorer, chapter 04's live plot.

One `jupyter lab` server runs on a temporary copy of `nbs/`; each chapter is opened, run from the Run menu
("Run All Cells"), and checked: no dialog (e.g. "Select Kernel") appears, no output shows a traceback (widget outputs
included), the explorer's ε slider redraws its image, and the live training plot has curves on it.
Set `ADVCOURSE_BROWSER_ROOT` to a folder holding `nbs/` and `advcourse/` to test another tree (e.g. an old commit).
Needs Debian's `chromium` and the `playwright` package; skipped without them unless `CI` is set.
"""
import base64, contextlib, io, json, os, re, secrets, shutil, socket, subprocess, sys, time, urllib.request
from importlib.util import find_spec
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(os.environ.get('ADVCOURSE_BROWSER_ROOT', ROOT)).resolve()
CI = os.environ.get('CI', '').lower() not in ('', '0', 'false', 'no')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
RUN_TIMEOUT = 600   # seconds for one chapter's "Run All Cells"
ERROR_RE = re.compile(r'Traceback|\b\w*(Error|Exception)\b:')

def _missing():
    need = {'chromium (apt-get install chromium)': CHROMIUM,
            'playwright (pip install playwright)': find_spec('playwright'), 'jupyterlab': find_spec('jupyterlab')}
    return [k for k, v in need.items() if not v]

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

class Lab:
    "A JupyterLab server on a copy of `SRC/nbs` in `tmp`, and its REST API."
    def __init__(self, tmp: Path):
        self.dir, self.port, self.token = tmp / 'lab', _free_port(), secrets.token_hex(16)
        shutil.copytree(SRC / 'nbs', self.dir / 'nbs')
        cfg = SRC / 'settings.ini' if (SRC / 'settings.ini').exists() else ROOT / 'settings.ini'
        shutil.copy(cfg, self.dir / 'settings.ini')
        env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}   # the kernel must use the inline backend
        for k in ('JUPYTER_CONFIG_DIR', 'JUPYTER_DATA_DIR', 'JUPYTER_RUNTIME_DIR', 'IPYTHONDIR'):   # no user settings
            env[k] = str(tmp / k.lower())
        env['PYTHONPATH'] = os.pathsep.join([str(SRC)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
        args = [sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={self.port}', '--ServerApp.port_retries=0',
                '--ServerApp.ip=127.0.0.1', f'--ServerApp.token={self.token}', f'--ServerApp.root_dir={self.dir}']
        if hasattr(os, 'geteuid') and os.geteuid() == 0: args.append('--allow-root')
        self.log = tmp / 'jupyterlab.log'
        with open(self.log, 'w') as f:
            self.proc = subprocess.Popen(args, env=env, stdout=f, stderr=subprocess.STDOUT)
        t0 = time.time()
        while True:
            try: self.api('status'); break
            except OSError:
                if self.proc.poll() is not None or time.time() - t0 > 90:
                    self.close(); pytest.fail(f'JupyterLab did not start; its log ends:\n{self.log_tail()}')
                time.sleep(0.5)

    def url(self, path): return f'http://127.0.0.1:{self.port}/{path}'
    def api(self, path, method='GET'):
        req = urllib.request.Request(self.url(f'api/{path}'), method=method,
                                     headers={'Authorization': f'token {self.token}'})
        with urllib.request.urlopen(req, timeout=10) as r: body = r.read()
        return json.loads(body) if body else None
    def kernel_state(self, nb):
        "Execution state of the kernel of notebook `nb` ('idle', 'busy', 'starting', ...) or None when it has none."
        s = [s for s in self.api('sessions') if s['path'].endswith(nb)]
        return s[0]['kernel']['execution_state'] if s and s[0].get('kernel') else None
    def shutdown_kernels(self):
        for s in self.api('sessions'): self.api(f"sessions/{s['id']}", method='DELETE')
    def log_tail(self, n=3000): return self.log.read_text()[-n:]
    def close(self):
        self.proc.terminate()
        try: self.proc.wait(20)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    if missing := _missing():
        (pytest.fail if CI else pytest.skip)(f"the browser test needs {', '.join(missing)}")
    from playwright.sync_api import sync_playwright
    server = Lab(tmp_path_factory.mktemp('browser'))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            server.browser = browser
            yield server
            browser.close()
    finally: server.close()

def _dialog(page):
    "Text of a visible JupyterLab dialog, or None."
    d = page.locator('.jp-Dialog')
    return d.first.inner_text().strip() if d.count() and d.first.is_visible() else None

def _open(lab, nb, problems):
    "Open `nbs/nb` in its own workspace and wait for its kernel; a dialog on the way is a problem (then accepted)."
    page = lab.browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.goto(lab.url(f'lab/workspaces/{Path(nb).stem}/tree/nbs/{nb}?token={lab.token}'))
    page.wait_for_selector('.jp-Notebook .jp-CodeCell', timeout=90_000)
    t0 = time.time()
    while lab.kernel_state(nb) != 'idle':
        if text := _dialog(page):
            problems.append(f'{nb}: a dialog opened with the notebook: {" ".join(text.split())[:200]!r}')
            page.locator('.jp-Dialog .jp-mod-accept').first.click()   # take the proposed kernel, as a student would
        if time.time() - t0 > 90: pytest.fail(f'{nb}: no idle kernel after 90 s; server log:\n{lab.log_tail()}')
        time.sleep(0.3)
    return page

@contextlib.contextmanager
def _chapter(lab, nb):
    "Open chapter `nb`, run all its cells, yield `(page, problems)`; then close it, stop its kernel, check `problems`."
    problems = []
    page = _open(lab, nb, problems)
    try:
        _run_all(lab, page, nb, problems)
        yield page, problems
    finally: page.close(); lab.shutdown_kernels()
    assert not problems, '\n'.join(dict.fromkeys(problems))

def _prompts(page):
    return page.eval_on_selector_all('.jp-CodeCell .jp-InputArea-prompt', 'els => els.map(e => e.textContent.trim())')

def _wait_idle(lab, page, nb, problems, timeout=RUN_TIMEOUT):
    "Wait until no cell is queued or running and the kernel is idle (twice in a row)."
    t0, calm = time.time(), 0
    while calm < 2:
        time.sleep(0.5)
        busy = any('*' in p for p in _prompts(page)) or lab.kernel_state(nb) != 'idle'
        calm = 0 if busy else calm + 1
        if text := _dialog(page):
            problems.append(f'{nb}: a dialog opened while running: {" ".join(text.split())[:200]!r}'); return
        if time.time() - t0 > timeout: pytest.fail(f'{nb}: still running after {timeout} s')

def _run_all(lab, page, nb, problems):
    "Run → Run All Cells from the menu bar, wait for the end, and check every cell ran and no output shows an error."
    page.locator('.lm-MenuBar-item', has_text=re.compile(r'^Run$')).first.click()
    page.locator('.lm-Menu-item:visible', has_text=re.compile(r'^Run All Cells')).first.click()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try: page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                                          .some(e => e.textContent.includes('*'))""", timeout=10_000)
    except PlaywrightTimeout: pass   # nothing queued: a chapter this short may be done already
    _wait_idle(lab, page, nb, problems)
    if not_run := sum(not re.search(r'\d', p) for p in _prompts(page)):
        problems.append(f'{nb}: {not_run} code cells did not run')
    _check_outputs(page, nb, problems)

def _check_outputs(page, nb, problems):
    "Every output area (widget outputs included) is free of tracebacks and `...Error:` lines."
    outs = page.eval_on_selector_all('.jp-OutputArea-output', 'els => els.map(e => e.textContent)')
    for t in outs:
        if ERROR_RE.search(t): problems.append(f'{nb}: an output shows an error: {" ".join(t.split())[-300:]!r}')

def _png(src):
    "The RGB pixels (int array) of a `data:image/png;base64,...` image source."
    import numpy as np
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(',', 1)[1]))).convert('RGB')).astype(int)

def _curves(px):
    "Coloured (non-grey) pixels of an image, and the fraction of its columns that hold any: curves span the axes."
    col = (px.max(-1) - px.min(-1)) > 60
    return int(col.sum()), float(col.any(0).mean())

def test_png_curve_check():
    "The check tells a plot with curves from the empty axes that were stored before the fix."
    import numpy as np, matplotlib
    matplotlib.use('agg')
    import matplotlib.pyplot as plt
    def render(draw):
        fig, ax = plt.subplots(figsize=(6, 4)); buf = io.BytesIO()
        if draw: ax.plot(range(5), [2.0, 1.1, 0.7, 0.5, 0.4]); ax.plot(range(5), np.linspace(.4, .9, 5))
        ax.set_xlim(0, 5); fig.savefig(buf, format='png'); plt.close(fig)
        return _png('data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode())
    n, frac = _curves(render(False)); assert n == 0 and frac == 0
    n, frac = _curves(render(True)); assert n > 300 and frac > 0.25, (n, frac)

def _explore(lab, page, nb, problems):
    "Read the explorer's image, press ArrowRight on its ε slider, and check the image was redrawn."
    exp = page.locator('.widget-interact').last
    img = exp.locator('img')
    before = img.first.get_attribute('src') if img.count() else None
    if not before: problems.append(f'{nb}: the attack explorer shows no image')
    label = page.locator('.widget-label', has_text=re.compile(r'^\s*(eps|ε)'))
    slider = exp.locator('.widget-slider').filter(has=label)
    if not slider.count(): problems.append(f'{nb}: the attack explorer has no slider labelled eps or ε')
    else:
        readout = slider.first.locator('.widget-readout')
        r0 = readout.text_content()
        handle = slider.first.locator('.noUi-handle').first
        handle.scroll_into_view_if_needed(); handle.focus()
        for _ in range(3): page.keyboard.press('ArrowRight')
        if readout.text_content() == r0: problems.append(f'{nb}: ArrowRight on the ε slider left it at {r0}')
        src = lambda: img.first.get_attribute('src') if img.count() else None
        t0 = time.time()
        while before and src() in (None, before) and time.time() - t0 < 60: time.sleep(0.5)   # the kernel redraws
        _wait_idle(lab, page, nb, problems, timeout=120)
        after = src()
        if not after or after == before:
            problems.append(f'{nb}: the explorer image did not change when ε moved {r0} -> {readout.text_content()}')
    _check_outputs(page, nb, problems)   # the widget's output after the redraws too

def _live_plots(page, nb, problems):
    "Every image in a cell that shows a training table (fastprogress) must have curves on it."
    cells = page.locator('.jp-CodeCell').filter(has=page.locator('.jp-OutputArea-output table', has_text='train_loss'))
    srcs = [i.get_attribute('src') for c in cells.all() for i in c.locator('.jp-OutputArea-output img').all()]
    if not cells.count(): problems.append(f'{nb}: no cell shows a training table')
    elif not srcs: problems.append(f'{nb}: no training cell shows a live plot')
    for s in srcs:
        n, frac = _curves(_png(s))
        if n < 300 or frac < 0.25:
            problems.append(f'{nb}: the live training plot has no curves '
                            f'({n} coloured pixels in {frac:.0%} of its columns)')

def test_attack_explorer(lab):
    "Chapter 03 runs clean, and moving the explorer's ε slider with the keyboard redraws its image."
    nb = '03_attacks.ipynb'
    with _chapter(lab, nb) as (page, problems): _explore(lab, page, nb, problems)

def test_live_training_plot(lab):
    "Chapter 04 runs clean, and the live plot of its training cell has curves on it, not just empty axes."
    nb = '04_learner.ipynb'
    with _chapter(lab, nb) as (page, problems): _live_plots(page, nb, problems)
