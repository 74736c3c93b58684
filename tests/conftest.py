"""Shared fixtures: MNIST when the data folder has it, else a visible skip."""
from __future__ import annotations

import pytest

from kdlib.data import DataUnavailableError, data_root, load_mnist


@pytest.fixture(scope="session")
def mnist_raw():
    """(train images, train labels, test images, test labels) or a skip naming the folder."""
    try:
        xtr, ytr = load_mnist(train=True)
        xte, yte = load_mnist(train=False)
    except DataUnavailableError as exc:
        pytest.skip(f"MNIST not available in {data_root()} (set KDLIB_DATA): {exc}")
    return xtr, ytr, xte, yte
