"Issue 12: the papers' configs as data (chapter 11's PRESETS + PAPER_METHODS), resolved as each paper ran them."
import dataclasses
import pytest
from advcourse.configs import PAPER_METHODS, PRESETS, METHODS, RunConfig, get_config
from advcourse.learner import piecewise
from advcourse.losses.arrest import pretrain_config

GPU = [p for p, c in PRESETS.items() if c.dataset != 'digits']

def test_gamma_per_model():
    assert get_config('cifar10_wrn34_10', method='arat').gamma == 100.
    assert get_config('cifar100_wrn34_10', method='arat_swa').gamma == 100.
    assert get_config('cifar10_resnet18', method='arat').gamma == 30.

def test_trades_as_the_arat_paper_ran_it():
    c = get_config('cifar10_resnet18', method='trades')
    assert (c.epochs, c.weight_decay, c.alpha, c.trades_beta) == (76, 2e-4, 0.007, 6.)
    lrs = [piecewise(e, c.epochs, c.lr_drops) for e in range(c.epochs)]
    assert lrs[74] == 1 and lrs[75] == pytest.approx(0.1)        # ÷10 at epoch 75, as the official script

def test_arat_first_epoch_at_lr_002():
    c = get_config('cifar10_resnet18', method='arat')
    assert c.lr * piecewise(0, c.epochs, c.lr_drops, warmup_epochs=c.warmup_epochs) == pytest.approx(0.02)
    assert c.lr * piecewise(1, c.epochs, c.lr_drops, warmup_epochs=c.warmup_epochs) == pytest.approx(0.1)

def test_swa_from_epoch_76_every_500():
    c = get_config('cifar10_resnet18', method='arat_swa')
    assert (c.swa_start, c.swa_every) == (75, 500)

@pytest.mark.parametrize('preset', ['cifar10_resnet18', 'cifar10_wrn34_10', 'cifar10_preact_resnet18'])
def test_cure_tab9_and_shared_pretrain(preset):
    c = get_config(preset, method='cure')
    tab9 = {'resnet18': (30, 0.1, 1.), 'wrn34_10': (50, 0.3, .5), 'preact_resnet18': (20, 0.2, 1.)}[c.model]
    assert (c.rgp_p, c.rgp_alpha, c.cure_gamma) == tab9
    assert (c.epochs, c.weight_decay, c.alpha) == (200, 5e-3, pytest.approx(2 / 255))
    # CURE starts from the same 100-epoch standard run as ARREST and as the preset's own ST run
    st = get_config(preset, method='st')
    assert pretrain_config(c).name == pretrain_config(get_config(preset, method='arrest')).name == st.name
    assert pretrain_config(c).epochs == 100

def test_l2_presets_keep_their_own_step():
    for p in ('cifar10_preact_resnet18_l2', 'cifar100_preact_resnet18_l2'):
        for m in METHODS:
            c = get_config(p, method=m)
            assert (c.norm, c.eps) == ('L2', 0.5) and c.alpha == pytest.approx(0.125), (p, m)

def test_digits_presets_get_no_paper_changes():
    assert get_config('digits_tradeoff', method='trades').epochs == 30
    assert get_config('digits_tradeoff', method='arat').warmup_epochs == 0

def test_overrides_beat_the_paper_and_weight_decay_is_kept_for_every_method():
    assert get_config('cifar10_resnet18', method='trades', epochs=3).epochs == 3
    for m in METHODS: assert get_config('digits', method=m, weight_decay=1e-3).weight_decay == 1e-3, m

def test_paper_table_names_real_methods_and_fields():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    for m, ch in PAPER_METHODS.items():
        assert m in METHODS and set(ch) <= fields, m

def test_every_preset_and_method_resolves():
    for p in PRESETS:
        for m in METHODS: get_config(p, method=m)
