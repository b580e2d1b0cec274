"""A small CURE run through the runner, used by test_cure.py: `python cure_resume_job.py OUT [KILL_AT_EPOCH]`.

Standard pretraining (cached in OUT) then 4 epochs of CURE on 256 digits with a revision rate of 0.5 (so revisions
happen often); with KILL_AT_EPOCH the process sends itself SIGKILL at the start of that epoch (a real kill). At the
end it saves the model's and the revision model's state_dicts to OUT/final.pt.
"""
import os, sys
import torch
torch.set_num_threads(1)
import advcourse.losses.cure as cure
from advcourse.cli import run
from advcourse.configs import get_config
from advcourse.core import load_checkpoint
from killer import killing

out = sys.argv[1]
kill_at = int(sys.argv[2]) if len(sys.argv) > 2 else None

cure.cure_method = killing(cure.cure_method, kill_at)   # the runner looks the builder up by name at run time

cfg = get_config('digits', method='cure', epochs=4, n_train=256, batch_size=64, steps=3, eval_n=64, revision_r=0.5)
run(cfg, out=out, progress=False)
ck = load_checkpoint(os.path.join(out, cfg.name, 'ckpt.pt'))
torch.save({'model': ck['model'], 'extras': ck['extras']}, os.path.join(out, 'final.pt'))
