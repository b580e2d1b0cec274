"For the resume jobs: wrap a method builder so that the process SIGKILLs itself at the start of a given epoch."
import os, signal
from advcourse.learner import Callback

class Kill(Callback):
    "Send this process SIGKILL (a real kill, no cleanup) at the start of epoch `at` (None: never)."
    def __init__(self, at): self.at = at
    def before_epoch(self, learn):
        if learn.epoch == self.at: os.kill(os.getpid(), signal.SIGKILL)

def killing(build, at):
    "`build` with a `Kill(at)` callback added; its runner attributes (`defaults`, `pretrain`, `epochs`) kept."
    def with_kill(cfg, model, info):
        obj, cbs = build(cfg, model, info)
        return obj, cbs + [Kill(at)]
    for k in ('defaults', 'pretrain', 'epochs'):
        if hasattr(build, k): setattr(with_kill, k, getattr(build, k))
    return with_kill
