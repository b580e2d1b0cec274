import os
from pathlib import Path
import pytest

# `pytest` runs on two workers (pytest-xdist, `-n 2` in pytest.ini): each worker, and every notebook it executes
# (the variable is inherited), computes on one thread, so the two cores run two tests at once instead of
# two threads of one small-network test fighting over them.
if os.environ.get('PYTEST_XDIST_WORKER'): os.environ['OMP_NUM_THREADS'] = '1'
import torch
torch.set_num_threads(1 if os.environ.get('PYTEST_XDIST_WORKER') else min(2, os.cpu_count() or 1))

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def digits_model():
    "A small, untrained digits model in eval mode and a test batch."
    from advcourse.core import set_seed
    from advcourse.data import get_dls
    from advcourse.models import get_model
    set_seed(0)
    dls = get_dls('digits')
    m = get_model('digits_resnet', dls.info).eval()
    return m, dls.valid.x[:32], dls.valid.y[:32]

@pytest.fixture(scope='session')
def st_digits():
    "A standard (non-robust) digits model trained for 3 epochs, in eval mode, and the test loader."
    from advcourse.core import set_seed
    from advcourse.data import get_dls
    from advcourse.learner import train_learner
    from advcourse.losses import st_loss
    from advcourse.models import get_model
    set_seed(0)
    dls = get_dls('digits')
    m = get_model('digits_resnet', dls.info)
    train_learner(m, dls, st_loss, epochs=3, progress=False)
    return m.eval(), dls.valid
