"""A small ARREST run through the runner, used by test_arrest.py: `python arrest_resume_job.py OUT [KILL_AT_AFT_EPOCH]`.

Standard pretraining (cached in OUT) then 4 AFT epochs of ARREST on 256 digits; with KILL_AT_AFT_EPOCH the process
sends itself SIGKILL at the start of that AFT epoch (a real kill). At the end it saves the student's state_dict to
OUT/final.pt.
"""
import os, sys
import torch
torch.set_num_threads(1)
import advcourse.losses.arrest as arrest
from advcourse.cli import load_run, run
from advcourse.configs import get_config
from killer import killing

out = sys.argv[1]
kill_at = int(sys.argv[2]) if len(sys.argv) > 2 else None

arrest.arrest_method = killing(arrest.arrest_method, kill_at)   # the runner looks the builder up by name at run time

cfg = get_config('digits', method='arrest', epochs=3, aft_epochs=4, n_train=256, batch_size=64, steps=3, eval_n=64)
run(cfg, out=out, progress=False)
torch.save(load_run(cfg, out=out).state_dict(), os.path.join(out, 'final.pt'))
