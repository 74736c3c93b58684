"""Tests for kdlib.cifar: the seeded 80/10/10 split, the noise variance, the data sources."""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.cifar import CIFAR10_CLASSES, class_index, load_cat_dog, source_notice, split_indices
from kdlib.data import DataUnavailableError, add_gaussian_noise


def test_split_is_disjoint_covering_and_80_10_10():
    tr, va, te = split_indices(12000, (0.8, 0.1, 0.1), seed=0)
    assert (len(tr), len(va), len(te)) == (9600, 1200, 1200)
    allidx = torch.cat([tr, va, te])
    assert torch.equal(allidx.sort().values, torch.arange(12000))  # disjoint and covering
    assert not (set(tr.tolist()) & set(va.tolist()) or set(tr.tolist()) & set(te.tolist()) or set(va.tolist()) & set(te.tolist()))


def test_split_is_seeded():
    a = split_indices(1000, seed=5)
    b = split_indices(1000, seed=5)
    c = split_indices(1000, seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[1], c[1])


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.3, -0.1), (0.5, 0.6, 0.1)])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_indices(100, fractions)


@pytest.mark.parametrize("variance", [0.01, 0.2])
def test_noise_has_requested_variance(variance):
    # 3,072,000 draws: the sample variance has relative sd sqrt(2/n) ~ 8e-4, so 1% is > 10 sd.
    x = torch.full((1000, 3, 32, 32), 0.5)
    noisy = add_gaussian_noise(x, variance, seed=1)
    d = (noisy - x).double()
    assert abs(d.var().item() / variance - 1) < 0.01
    assert abs(d.mean().item()) < 5 * math.sqrt(variance / d.numel())


def test_class_names():
    assert class_index("cat") == 3 and class_index("dog") == 5 and class_index(7) == 7
    assert CIFAR10_CLASSES[class_index("ship")] == "ship"
    for bad in ("kitten", 10, -1, True):
        with pytest.raises(ValueError):
            class_index(bad)


def test_missing_data_names_the_variable(tmp_path):
    with pytest.raises(DataUnavailableError, match="KDLIB_DATA"):
        load_cat_dog(root=tmp_path, download=False)


def test_same_class_twice_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="two different classes"):
        load_cat_dog(("cat", "cat"), root=tmp_path, download=False)


# ------------------------------------------------------------- tests on the real data (skipped without it)

def _load(**kw):
    try:
        return load_cat_dog(download=False, **kw)
    except DataUnavailableError as exc:
        pytest.skip(f"CIFAR-10 cat/dog not available: {exc}")


@pytest.fixture(scope="module")
def clean():
    return _load()


def test_clean_task_shapes_pixels_labels(clean):
    d = clean
    assert (len(d.train), len(d.val), len(d.test)) == (9600, 1200, 1200)
    assert d.train.x.shape[1:] == (3, 32, 32) and d.train.x.dtype == torch.float32
    for part in (d.train, d.val, d.test):
        assert part.x.min() >= 0 and part.x.max() <= 1
        assert set(part.y.unique().tolist()) == {0, 1}
    # cat/dog are balanced 6,000 each in the pool
    n1 = sum(int(p.y.sum()) for p in (d.train, d.val, d.test))
    assert n1 == 6000
    assert d.classes == ("cat", "dog")
    if d.is_standin:
        assert "NOT the original" in d.source["description"] and "stand-in" in source_notice(d.source)


def test_noisy_task_same_images_per_seed_and_requested_variance(clean):
    a = _load(noise_variance=0.05, noise_seed=3, train_limit=100)
    b = _load(noise_variance=0.05, noise_seed=3, train_limit=100)
    c = _load(noise_variance=0.05, noise_seed=4, train_limit=100)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.x, b.train.x)  # teacher and student see the same
    assert not torch.equal(a.val.x, c.val.x)
    assert torch.equal(a.val.y, clean.val.y)
    d = (a.val.x - clean.val.x).double()  # 3.7 million draws: 1% is > 10 sd
    assert abs(d.var().item() / 0.05 - 1) < 0.01
    assert a.train.x.min() < 0  # not clipped


def test_train_limit_keeps_a_subset_of_the_training_part(clean):
    full = clean
    sub = _load(train_limit=500)
    assert len(sub.train) == 500 and len(sub.val) == 1200 and torch.equal(sub.test.x, full.test.x)
    # every kept training image is one of the full training part's images
    flat = full.train.x.flatten(1)
    hits = sum(bool((flat == img.flatten()).all(1).any()) for img in sub.train.x[:20])
    assert hits == 20


def test_standin_lacks_other_classes():
    d = _load(train_limit=10)
    if not d.is_standin:
        pytest.skip("the original CIFAR-10 is present; every class is there")
    with pytest.raises(ValueError, match="holds only the classes"):
        load_cat_dog(("airplane", "cat"), download=False)
