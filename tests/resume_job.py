"""A small AT run used by test_learner.py: `python resume_job.py CKPT OUT [KILL_AT_EPOCH]`.

Trains 4 epochs of PGD AT on 256 digits with a checkpoint after every epoch; with KILL_AT_EPOCH it
sends itself SIGKILL at the start of that epoch (a real kill: no cleanup, no exception handlers).
At the end it saves the model's state_dict to OUT.
"""
import os, signal, sys
from functools import partial
import torch
torch.set_num_threads(1)
from advcourse.attacks import PGD
from advcourse.core import set_seed
from advcourse.data import get_dls
from advcourse.learner import Callback, CheckpointCB, CSVLogger, DeviceCB, Learner, LRSchedCB
from advcourse.losses import at_loss
from advcourse.models import get_model

ckpt, out = sys.argv[1], sys.argv[2]
kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None

class Kill(Callback):
    def before_epoch(self, learn):
        if learn.epoch == kill_at: os.kill(os.getpid(), signal.SIGKILL)

set_seed(int(os.environ.get('SEED', 0)))
dls = get_dls('digits', batch_size=64, n_train=256)
model = get_model('digits_resnet', dls.info)
learn = Learner(model, dls, partial(at_loss, attack=PGD(eps=0.25, alpha=0.0625, steps=3)), lr=0.1,
                cbs=[DeviceCB('cpu'), LRSchedCB(), CSVLogger(out + '.csv'), CheckpointCB(ckpt), Kill()])
learn.fit(4)
torch.save(model.state_dict(), out)
