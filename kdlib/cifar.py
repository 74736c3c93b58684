"""CIFAR-10 binary tasks (cat vs dog) as tensors, with Gaussian noise (paper, Section 4).

Where the images come from, in this order
-----------------------------------------
1. torchvision's CIFAR-10 in ``$KDLIB_DATA/cifar-10-batches-py`` (the original archive,
   read with ``torchvision.datasets.CIFAR10(download=False)``);
2. torchvision's normal download into ``$KDLIB_DATA`` (needs the internet; a short
   socket timeout makes it fail fast offline);
3. the offline stand-in ``$KDLIB_DATA/cifar10-catdog/cifar10_cat_dog.npz``: the cat and
   dog images of CIFAR-10 rebuilt from public mirrors, most of them decoded from a JPEG
   copy (about 30 dB PSNR against the originals). It holds only classes 3 (cat) and 5
   (dog); asking it for another class is a :class:`ValueError`.

If none is there, :class:`~kdlib.data.DataUnavailableError` names the variable and the
files expected. Every loaded set carries a ``source`` dict saying which of these it is;
experiments store it with their records.

The task (paper, Section 4)
---------------------------
Two CIFAR-10 classes (label 0 for the first, 1 for the second). The paper splits the
data 80/10/10 into train/validation/test; we pool CIFAR-10's own training and test
images of the two classes (12,000 for cat/dog) and split them with a seeded
permutation (:func:`split_indices`). Pixels are scaled to [0, 1]; then additive
Gaussian noise ``x + N(0, sigma^2)`` with ``sigma^2`` the *variance* on that scale is
added to every image of all three parts, drawn from a seeded generator, so the teacher
and both students see exactly the same noisy images. The noisy pixels are NOT clipped
back to [0, 1]: clipping would shrink the variance below the one asked for (for
``sigma^2 = 0.2`` by a lot), and the paper states the variance.
"""
from __future__ import annotations

import functools
import pickle
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from kdlib.data import DATA_ENV, DataUnavailableError, add_gaussian_noise, check_variance, data_root

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TORCHVISION_DIR = "cifar-10-batches-py"
STANDIN_FILE = Path("cifar10-catdog") / "cifar10_cat_dog.npz"
STANDIN_CLASSES = (3, 5)
#: Seconds the network download may hang before we give up (offline machines).
DOWNLOAD_TIMEOUT_S = 5.0


def class_index(c: int | str) -> int:
    """A CIFAR-10 class as its index 0-9 (``"cat"`` -> 3)."""
    if isinstance(c, str):
        if c not in CIFAR10_CLASSES:
            raise ValueError(f"unknown CIFAR-10 class {c!r}: expected one of {CIFAR10_CLASSES}")
        return CIFAR10_CLASSES.index(c)
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= int(c) <= 9:
        raise ValueError(f"a CIFAR-10 class is a name or an integer 0-9, got {c!r}")
    return int(c)


def _check_classes(classes: Sequence[int | str]) -> tuple[int, int]:
    idx = tuple(class_index(c) for c in classes)
    if len(idx) != 2 or idx[0] == idx[1]:
        raise ValueError(f"a binary task needs two different classes, got {tuple(classes)}")
    return idx  # type: ignore[return-value]


def _read_torchvision(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 60,000 images (uint8 N x 32 x 32 x 3) and labels of the original archive."""
    from torchvision.datasets import CIFAR10

    xs, ys = [], []
    for train in (True, False):
        ds = CIFAR10(root=str(folder.parent), train=train, download=False)
        xs.append(np.asarray(ds.data))
        ys.append(np.asarray(ds.targets, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _try_download(root: Path) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import CIFAR10

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        for train in (True, False):
            CIFAR10(root=str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(old)
    return _read_torchvision(root / TORCHVISION_DIR)


@functools.lru_cache(maxsize=2)
def _load_pool(root: str, download: bool) -> tuple[np.ndarray, np.ndarray, tuple[tuple[str, Any], ...]]:
    """(images, labels, source) from the first source that works; cached per process."""
    rootp = Path(root)
    errors: list[str] = []
    tv = rootp / TORCHVISION_DIR
    if tv.exists():
        try:
            x, y = _read_torchvision(tv)
            return x, y, (("name", "cifar10-torchvision"), ("path", str(tv)),
                          ("description", "original CIFAR-10 (torchvision archive)"))
        except Exception as exc:  # corrupt archive, wrong checksum
            errors.append(f"reading {tv} failed: {type(exc).__name__}: {exc}")
    if download:
        try:
            x, y = _try_download(rootp)
            return x, y, (("name", "cifar10-torchvision"), ("path", str(rootp / TORCHVISION_DIR)),
                          ("description", "original CIFAR-10 (downloaded by torchvision)"))
        except Exception as exc:
            errors.append(f"torchvision's download failed: {type(exc).__name__}: {str(exc)[:200]}")
    npz = rootp / STANDIN_FILE
    if npz.exists():
        with np.load(npz) as z:
            x = np.concatenate([z["x_train"], z["x_test"]])
            y = np.concatenate([z["y_train"], z["y_test"]]).astype(np.int64)
            lossless = int(z["lossless_train"].sum() + z["lossless_test"].sum())
            prov = [str(s) for s in z["source"]]
        return x, y, (
            ("name", "cifar10-catdog-standin"),
            ("path", str(npz)),
            ("description", (
                "offline stand-in for CIFAR-10 cat/dog, rebuilt from public mirrors: "
                f"{lossless} of {len(y)} images are exact original pixels, the rest were decoded "
                "from a JPEG copy (quality about 75, about 30 dB PSNR); labels exact. "
                "NOT the original CIFAR-10.")),
            ("lossless_images", lossless),
            ("provenance", tuple(prov[:3])),
            ("why_not_original", " | ".join(errors) or f"no {TORCHVISION_DIR}/ in {rootp}, download not tried"),
        )
    raise DataUnavailableError(
        f"CIFAR-10 is not available. Set the environment variable {DATA_ENV} to a folder holding "
        f"either torchvision's '{TORCHVISION_DIR}/' (data_batch_1..5, test_batch) or the offline "
        f"stand-in '{STANDIN_FILE}' (arrays x_train, y_train, x_test, y_test). Looked in {rootp}. "
        "Details: " + (" | ".join(errors) or "no files found")
    )


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Disjoint index sets covering ``range(n)`` with the given fractions, from a seeded permutation.

    Sizes: ``floor(f_k n)`` for all parts but the last, which takes the rest.
    """
    if n < len(fractions):
        raise ValueError(f"cannot split {n} items into {len(fractions)} parts")
    f = [float(v) for v in fractions]
    if any(v <= 0 for v in f) or abs(sum(f) - 1) > 1e-9:
        raise ValueError(f"split fractions must be > 0 and sum to 1, got {tuple(fractions)}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    sizes = [int(v * n) for v in f[:-1]]
    sizes.append(n - sum(sizes))
    return tuple(p.sort().values for p in torch.split(perm, sizes))


@dataclass
class ImageSplit:
    """One part of the task: images ``x`` (N x 3 x 32 x 32, float32) and labels ``y`` in {0, 1} (int64)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class CatDog:
    """A binary CIFAR-10 task split into train/val/test, with the data source."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    classes: tuple[str, str]
    noise_variance: float
    noise_seed: int
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def is_standin(self) -> bool:
        return self.source.get("name") == "cifar10-catdog-standin"


def load_cat_dog(
    classes: Sequence[int | str] = ("cat", "dog"),
    *,
    noise_variance: float = 0.0,
    noise_seed: int = 0,
    split_seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    train_limit: int | None = None,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
    download: bool = True,
) -> CatDog:
    """The binary task as tensors on ``device`` (see the module docstring for every choice).

    ``train_limit`` keeps the first that many images of the (already random) training
    part; validation and test parts are never cut. The noise is drawn on the CPU from
    ``noise_seed`` for the whole pool in a fixed order, so the noisy images depend only on
    (``noise_seed``, ``noise_variance``), never on the device.
    """
    c0, c1 = _check_classes(classes)
    v = check_variance(noise_variance)
    rootp = Path(root) if root is not None else data_root()
    x_all, y_all, src = _load_pool(str(rootp), bool(download))
    source = dict(src)
    if source["name"] == "cifar10-catdog-standin":
        missing = [CIFAR10_CLASSES[c] for c in (c0, c1) if c not in STANDIN_CLASSES]
        if missing:
            raise ValueError(
                f"the offline stand-in {rootp / STANDIN_FILE} holds only the classes "
                f"{[CIFAR10_CLASSES[c] for c in STANDIN_CLASSES]}; {missing} asked for. Provide torchvision's "
                f"CIFAR-10 under ${DATA_ENV}/{TORCHVISION_DIR} for other classes."
            )
    keep = np.flatnonzero((y_all == c0) | (y_all == c1))
    images = torch.from_numpy(np.ascontiguousarray(x_all[keep])).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    labels = torch.from_numpy((y_all[keep] == c1).astype(np.int64))
    images = add_gaussian_noise(images, v, noise_seed)
    parts = split_indices(len(labels), fractions, split_seed)
    tr = parts[0]
    if train_limit is not None:
        if train_limit < 2:
            raise ValueError(f"train_limit must be at least 2, got {train_limit}")
        tr = parts[0][torch.randperm(len(parts[0]), generator=torch.Generator().manual_seed(int(split_seed)))[:train_limit]].sort().values
    dev = torch.device(device)
    mk = lambda idx: ImageSplit(images[idx].to(dev), labels[idx].to(dev))  # noqa: E731
    return CatDog(
        train=mk(tr), val=mk(parts[1]), test=mk(parts[2]),
        classes=(CIFAR10_CLASSES[c0], CIFAR10_CLASSES[c1]),
        noise_variance=v, noise_seed=int(noise_seed),
        source={**source, "n_pool": int(len(labels)), "split_sizes": [len(tr), len(parts[1]), len(parts[2])]},
    )


def source_notice(source: dict[str, Any]) -> str:
    """A notice (Markdown, in plain words) on where the images came from. The stand-in's raw
    provenance (the failed download's error, the mirrors it was rebuilt from) stays in the
    record's ``data_source`` and is not printed."""
    if source.get("name") == "cifar10-catdog-standin":
        why = (" The original archive could not be downloaded on the machine that made them."
               if source.get("why_not_original") else "")
        return ("**Data notice.** These numbers were computed on an offline stand-in for CIFAR-10's cat "
                "and dog images, not the original archive." + why + " The stand-in was rebuilt from "
                "public copies of CIFAR-10: " + str(source.get("description", "")).split(": ", 1)[-1].strip()
                + " Where each image came from is stored with every record (its data source).")
    return f"Data: {source.get('description', source.get('name', 'unknown'))}."
