"""kdlib.data: the paper's binary tasks, noise, scaling and clear errors."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kdlib import data as D


def _read_idx_labels(path: Path) -> np.ndarray:
    """An independent reader of an IDX1 label file (magic 2049, count, then bytes)."""
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    magic, n = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big")
    assert magic == 2049
    return np.frombuffer(raw[8 : 8 + n], dtype=np.uint8)


def _labels_file(train: bool) -> Path:
    raw = D.data_root() / "MNIST" / "raw"
    name = ("train" if train else "t10k") + "-labels-idx1-ubyte"
    return raw / name if (raw / name).exists() else raw / (name + ".gz")


@pytest.mark.parametrize("task,excluded", [("full", set()), ("reduced", {1, 4, 7, 9})])
@pytest.mark.parametrize("train", [True, False])
def test_binary_task_labels_and_counts(mnist_raw, task, excluded, train):
    digits = _read_idx_labels(_labels_file(train))
    kept = np.array([d not in excluded for d in digits])
    data = D.binary_mnist(task, train=train, scaling="pixel")
    assert len(data) == int(kept.sum())
    expected_pos = int(((digits > 4) & kept).sum())
    assert int((data.y > 0).sum()) == expected_pos
    # label +1 exactly for digits > 4, and no excluded digit survives
    assert torch.equal(data.y > 0, data.digits > 4)
    assert not set(data.digits.unique().tolist()) & excluded
    assert data.x.shape == (len(data), 784)
    assert float(data.x.min()) >= 0 and float(data.x.max()) <= 1


def test_unit_scaling_gives_unit_norms(mnist_raw):
    data = D.binary_mnist("reduced", train=False, scaling="unit")
    torch.testing.assert_close(data.x.norm(dim=1), torch.ones(len(data)), atol=1e-5, rtol=0)


def test_custom_groups_and_limit(mnist_raw):
    task = D.BinaryTask("3-vs-8", positive=(8,), negative=(3,))
    data = D.binary_mnist(task, train=False, limit=100, subset_seed=3)
    assert len(data) == 100
    assert set(data.digits.unique().tolist()) <= {3, 8}
    assert torch.equal(data.y > 0, data.digits == 8)
    again = D.binary_mnist(task, train=False, limit=100, subset_seed=3)
    assert torch.equal(data.x, again.x)


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(name="t", positive=(10,), negative=(1,)), "0-9"),
        (dict(name="t", positive=(-1,), negative=(1,)), "0-9"),
        (dict(name="t", positive=(), negative=(1,)), "no digits"),
        (dict(name="t", positive=(1, 2), negative=(2, 3)), "both classes"),
        (dict(name="t", positive=(1, 1), negative=(2,)), "repeated"),
    ],
)
def test_bad_tasks_are_rejected(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        D.BinaryTask(**kwargs)


def test_unknown_task_and_scaling():
    with pytest.raises(ValueError, match="unknown MNIST task"):
        D.paper_task("easy")
    with pytest.raises(ValueError, match="unknown scaling"):
        D.binary_mnist("full", scaling="zscore")


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_bad_noise_variance(bad):
    with pytest.raises(ValueError, match="variance"):
        D.add_gaussian_noise(torch.zeros(3), bad, seed=0)


def test_noise_has_the_requested_variance_and_is_seeded():
    x = torch.zeros(200_000)
    for var in (0.01, 0.2):
        noisy = D.add_gaussian_noise(x, var, seed=1)
        # sample variance of 2e5 normals: relative standard error sqrt(2/n) ~ 0.3%
        assert abs(float(noisy.var()) / var - 1) < 0.02
        assert abs(float(noisy.mean())) < 5 * math.sqrt(var / x.numel())
    assert torch.equal(D.add_gaussian_noise(x, 0.05, 7), D.add_gaussian_noise(x, 0.05, 7))
    assert not torch.equal(D.add_gaussian_noise(x, 0.05, 7), D.add_gaussian_noise(x, 0.05, 8))


def test_unit_norm_rejects_zero_rows():
    with pytest.raises(ValueError, match="all zeros"):
        D.unit_norm(torch.zeros(2, 3))


def test_missing_data_folder_names_the_variable(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def no_internet(self):
        raise RuntimeError("no internet here")

    monkeypatch.setattr(MNIST, "download", no_internet)
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path / "nowhere"))
    D._load_mnist_cached.cache_clear()
    try:
        with pytest.raises(D.DataUnavailableError) as info:
            D.load_mnist(train=False)
    finally:
        D._load_mnist_cached.cache_clear()
    text = str(info.value)
    assert D.DATA_ENV in text and "t10k-images-idx3-ubyte" in text and "nowhere" in text


def test_resolve_device():
    assert D.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            D.resolve_device("cuda")
        assert D.resolve_device("auto") == torch.device("cpu")
