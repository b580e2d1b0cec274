"Issue 12: SWA (chapter 21) resumes exactly, and BN re-estimation routes through the main BNs only."
from functools import partial
import torch
from advcourse.attacks import PGD
from advcourse.core import set_seed
from advcourse.data import get_dls
from advcourse.learner import Callback, CancelFitException, CheckpointCB, Learner
from advcourse.losses.at import at_loss
from advcourse.models import get_model
from advcourse.splitbn import convert_split_bn
from advcourse.swa import SWACB, bn_update_adv

def _learner(path, *cbs):
    set_seed(0)
    dls = get_dls('digits', 64, n_train=320)
    model = get_model('digits_small', dls.info)
    atk = PGD(eps=0.25, steps=2, bn_mode='eval')
    return Learner(model, dls, partial(at_loss, attack=atk), lr=0.05,
                   cbs=[CheckpointCB(path), SWACB(1, atk, every=4), *cbs])

class _Stop(Callback):
    "Stop after epoch 1, once the checkpoint is written: a killed run."
    order = 200
    def after_epoch(self, learn):
        if learn.epoch == 1: raise CancelFitException()

def test_swa_resumes_to_the_same_weights(tmp_path):
    straight = _learner(tmp_path / 'a.pt').fit(3)
    _learner(tmp_path / 'b.pt', _Stop()).fit(3)
    resumed = _learner(tmp_path / 'b.pt').fit(3)
    assert resumed.start_epoch == 2
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert straight.history[-1]['swa_n'] == resumed.history[-1]['swa_n'] == 2

def test_bn_update_adv_uses_the_main_bns_and_an_attacker_copy():
    set_seed(0)
    dls = get_dls('digits', 64, n_train=128)
    model = convert_split_bn(get_model('digits_small', dls.info))
    aux = {k: v.clone() for k, v in model.state_dict().items() if '.aux.' in k}
    seen = []
    def atk(m, x, y):
        seen.append(m)
        return x
    assert bn_update_adv(model, dls.train, atk) == 128
    assert all(m is not model for m in seen) and len({id(m) for m in seen}) == 1   # one frozen copy attacks
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in aux.items())                   # the clean halves untouched
    assert not torch.equal(after['bn1.main.running_mean'], torch.zeros_like(after['bn1.main.running_mean']))
