"""`advcourse run` with every rank's final weights saved, for tests/test_ddp.py (plain python or under torchrun).

`python ddp_job.py STATES [KILL_AT] -- ARGS...` runs `advcourse.cli.main(ARGS)`; after each training, this rank's
model and extras state dicts go to `STATES/<run name>.rank<RANK>.pt`. With KILL_AT, every method is built with
tests/killer.py's `Kill(KILL_AT)`: each rank SIGKILLs itself at the start of that epoch.
"""
import os, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import advcourse.cli as C
import advcourse.configs as configs

sep = sys.argv.index('--')
states, rest, argv = Path(sys.argv[1]), sys.argv[2:sep], sys.argv[sep + 1:]
states.mkdir(parents=True, exist_ok=True)
rank = int(os.environ.get('RANK', 0))

if rest:                                                    # a kill at the start of epoch KILL_AT
    sys.path.insert(0, str(Path(__file__).parent))
    from killer import killing
    at, builder = int(rest[0]), configs.method_builder
    configs.method_builder = C.method_builder = lambda m: killing(builder(m), at)

train = C.train_learner
def saving(model, dls, obj, epochs, **kw):
    learn = train(model, dls, obj, epochs, **kw)
    name = Path(kw['log']).parent.name                     # out/<run name>/log.csv
    torch.save({'model': learn.model.state_dict(), 'extras': learn.extras.state_dict(),
                'history': learn.history}, states / f'{name}.rank{rank}.pt')
    return learn
C.train_learner = saving
C.main(argv)
