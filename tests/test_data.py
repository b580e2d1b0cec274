"Dataset code paths, including torchvision's, exercised offline with files of the real formats."
import pickle, numpy as np, pytest, torch
import torchvision
from advcourse.data import get_dataset, get_dls, dataset_info, digits_tensors, DATASETS, TensorLoader

def test_digits_split_and_range():
    xtr, ytr = digits_tensors(True); xte, yte = digits_tensors(False)
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8)
    assert xtr.min() == 0 and xtr.max() == 1 and xtr.dtype == torch.float32
    assert len(set(map(tuple, xtr.flatten(1).tolist())) & set(map(tuple, xte.flatten(1).tolist()))) < 5  # (a few duplicate images exist in UCI digits)
    assert torch.equal(digits_tensors(False)[1], yte)  # fixed split

def test_unknown_dataset():
    with pytest.raises(ValueError, match="'mnist'"): get_dataset('mnist')
    with pytest.raises(ValueError, match="'mnist'"): get_dls('mnist')

def _write_cifar(root, n_train=20, n_test=10, classes=10):
    d = root / 'cifar-10-batches-py'; d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    def batch(n): return {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': rng.integers(0, classes, n).tolist()}
    for i in range(1, 6):
        with open(d / f'data_batch_{i}', 'wb') as f: pickle.dump(batch(n_train // 5), f)
    with open(d / 'test_batch', 'wb') as f: pickle.dump(batch(n_test), f)
    with open(d / 'batches.meta', 'wb') as f: pickle.dump({'label_names': [str(i) for i in range(classes)]}, f)

def test_cifar10_through_torchvision_offline(tmp_path, monkeypatch):
    _write_cifar(tmp_path)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, '_check_integrity', lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)   # md5s of the real files
    tr = get_dataset('cifar10', train=True, root=str(tmp_path), download=False)
    te = get_dataset('cifar10', train=False, root=str(tmp_path), download=False)
    assert len(tr) == 20 and len(te) == 10
    x, y = te[0]
    assert x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1 and isinstance(y, int)
    # test split is not augmented: same image twice; training split is (crop+flip) -> differs across draws
    assert torch.equal(te[0][0], te[0][0])
    torch.manual_seed(0)
    draws = [tr[0][0] for _ in range(8)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    names = [type(t).__name__ for t in tr.transform.transforms]
    assert names == ['RandomCrop', 'RandomHorizontalFlip', 'ToTensor']
    dls = get_dls('cifar10', batch_size=4, root=str(tmp_path), download=False, num_workers=0)
    xb, yb = next(iter(dls.train))
    assert xb.shape == (4, 3, 32, 32) and dls.info.num_classes == 10

def test_svhn_and_imagenette_transforms(tmp_path, monkeypatch):
    from advcourse.data import _tv_transform
    assert [type(t).__name__ for t in _tv_transform('svhn', True, True).transforms] == ['RandomCrop', 'ToTensor']
    t = _tv_transform('imagenette', True, True)
    from PIL import Image
    img = Image.fromarray(np.zeros((200, 300, 3), dtype=np.uint8))
    assert t(img).shape == (3, 160, 160)
    assert _tv_transform('imagenette', False, True)(img).shape == (3, 160, 160)

def test_svhn_through_torchvision_offline(tmp_path, monkeypatch):
    import scipy.io
    rng = np.random.default_rng(0)
    for split, n in [('train', 6), ('test', 4)]:
        scipy.io.savemat(tmp_path / f'{split}_32x32.mat', {'X': rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                                          'y': rng.integers(1, 11, (n, 1))})
    monkeypatch.setattr(torchvision.datasets.SVHN, '_check_integrity', lambda self: True)
    ds = get_dataset('svhn', train=False, root=str(tmp_path), download=False)
    x, y = ds[0]
    assert len(ds) == 4 and x.shape == (3, 32, 32) and 0 <= y <= 9

def test_dataset_info_all():
    for n in DATASETS:
        i = dataset_info(n)
        assert len(i.mean) == len(i.std) == i.shape[0]

def test_tensor_loader_covers_everything_once():
    x, y = torch.arange(10.).view(10, 1), torch.arange(10)
    dl = TensorLoader(x, y, batch_size=3, shuffle=True)
    assert len(dl) == 4 and sorted(torch.cat([b for _, b in dl]).tolist()) == list(range(10))
    assert len(TensorLoader(x, y, 3, drop_last=True)) == 3
