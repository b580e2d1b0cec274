import pytest, torch
from advcourse.data import dataset_info
from advcourse.models import get_model, capture, MODELS

def _hooks(m): return sum(len(mod._forward_hooks) for mod in m.modules())

@pytest.mark.parametrize('name,ds,shape', [('digits_resnet', 'digits', (1, 8, 8)), ('resnet18', 'cifar10', (3, 32, 32)),
                                           ('preact_resnet18', 'cifar100', (3, 32, 32))])
def test_models_map_unit_images_to_logits(name, ds, shape):
    info = dataset_info(ds)
    m = get_model(name, info).eval()
    out = m(torch.rand(2, *shape))
    assert out.shape == (2, info.num_classes)
    # normalisation is inside: the first layer holds the dataset statistics
    assert torch.allclose(m.norm.mean.flatten(), torch.tensor(info.mean))

def test_wrn34_10_size():
    n = sum(p.numel() for p in get_model('wrn34_10', dataset_info('cifar10')).parameters())
    assert 46.0e6 < n < 46.3e6      # 46.2 M in the papers

def test_resnet18_size():
    n = sum(p.numel() for p in get_model('resnet18', dataset_info('cifar10')).parameters())
    assert 11.1e6 < n < 11.2e6

def test_capture_keeps_graph_and_removes_hooks():
    m = get_model('digits_resnet', dataset_info('digits'))
    x = torch.rand(4, 1, 8, 8)
    with capture(m, m.last_stage_relus, relu=True) as f:
        logits = m(x)
        assert _hooks(m) == len(m.last_stage_relus)
    assert _hooks(m) == 0
    z = f[m.last_stage_relus[-1]]
    assert z.shape == (4, 32) and z.requires_grad and (z >= 0).all()
    z.sum().backward()
    assert m.layer2[0].conv2.weight.grad.abs().sum() > 0

def test_capture_removes_hooks_on_error():
    m = get_model('digits_resnet', dataset_info('digits'))
    with pytest.raises(RuntimeError):
        with capture(m, 'layer1'):
            raise RuntimeError('inside')
    assert _hooks(m) == 0

def test_capture_unknown_layer_is_clear_error():
    m = get_model('resnet18', dataset_info('cifar10'))
    with pytest.raises(ValueError, match="'layer4.0.bn3'.*did you mean"):
        with capture(m, ['layer4', 'layer4.0.bn3']): pass
    assert _hooks(m) == 0

def test_capture_pool_false_flattens_map():
    m = get_model('resnet18', dataset_info('cifar10')).eval()
    with capture(m, 'layer4', pool=False) as f: m(torch.rand(2, 3, 32, 32))
    assert f['layer4'].shape == (2, 512 * 4 * 4)

def test_unknown_model_name():
    with pytest.raises(ValueError, match="'resnet50'"): get_model('resnet50', dataset_info('cifar10'))

def test_resnet_arat_layers_exist():
    for name in MODELS:
        m = get_model(name, dataset_info('digits' if name == 'digits_resnet' else 'cifar10'))
        mods = dict(m.named_modules())
        assert all(l in mods for l in m.last_stage_relus) and m.penultimate in mods
