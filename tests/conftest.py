import os, sys
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(min(2, os.cpu_count() or 1))

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
