"""Datasets as tensors: MNIST binary tasks, Gaussian noise, input scaling.

Where the data comes from
-------------------------
The folder is taken from the environment variable ``KDLIB_DATA`` (see
:func:`data_root`); without it, ``~/.cache/kdlib/data``. Inside it, MNIST is
expected in torchvision's layout, ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
(gzipped or not). If the files are missing we try torchvision's normal download
(which needs the internet); if that fails too, :class:`DataUnavailableError`
says which variable to set and which files are expected.

The paper's binary MNIST tasks (Section 2 of the paper)
-------------------------------------------------------
Label +1 for digits > 4, -1 for the rest. ``full`` uses all ten digits;
``reduced`` drops the digits 1, 7, 4 and 9 (the "easier" task). Any other
grouping is a :class:`BinaryTask` with explicit digit groups.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_ENV = "KDLIB_DATA"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataUnavailableError(RuntimeError):
    """The dataset is neither in the data folder nor downloadable."""


def data_root() -> Path:
    """The data folder: ``$KDLIB_DATA`` if set, else ``~/.cache/kdlib/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "kdlib" / "data"


def _mnist_files_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / f).exists() or (raw / (f + ".gz")).exists() for f in MNIST_FILES)


@functools.lru_cache(maxsize=4)
def _load_mnist_cached(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    rootp = Path(root)
    errors: list[str] = []
    if _mnist_files_present(rootp):
        try:
            ds = MNIST(root=str(rootp), train=train, download=False)
            return ds.data.clone(), ds.targets.clone()
        except Exception as exc:  # corrupt files, wrong checksums, ...
            errors.append(f"reading {rootp / 'MNIST' / 'raw'} failed: {exc}")
    made = [p for p in (rootp / "MNIST" / "raw", rootp / "MNIST", rootp) if not p.exists()]
    try:
        ds = MNIST(root=str(rootp), train=train, download=True)
        return ds.data.clone(), ds.targets.clone()
    except Exception as exc:
        errors.append(f"torchvision's download failed: {type(exc).__name__}: {exc}")
        for folder in made:  # the download made them: leave the data folder as it was
            try:
                folder.rmdir()
            except OSError:
                pass
    expected = ", ".join(MNIST_FILES)
    raise DataUnavailableError(
        f"MNIST is not available. Looked in {rootp} (set the environment variable "
        f"{DATA_ENV} to a folder that holds MNIST/raw/ with the files {expected}, "
        "gzipped or not; torchvision's MNIST layout), and the download did not work "
        "either. Details: " + " | ".join(errors)
    )


def load_mnist(train: bool = True, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images (uint8, N x 28 x 28) and digit labels (int64, N).

    >>> x, y = load_mnist(train=False)  # doctest: +SKIP
    >>> x.shape, y.shape                 # doctest: +SKIP
    (torch.Size([10000, 28, 28]), torch.Size([10000]))
    """
    root = Path(root) if root is not None else data_root()
    x, y = _load_mnist_cached(str(root), bool(train))
    return x, y


@dataclass(frozen=True)
class BinaryTask:
    """A binary task over digits: ``positive`` digits get label +1, ``negative`` -1."""

    name: str
    positive: tuple[int, ...]
    negative: tuple[int, ...]

    def __post_init__(self) -> None:
        for group, label in ((self.positive, "positive"), (self.negative, "negative")):
            if len(group) == 0:
                raise ValueError(f"task {self.name!r}: the {label} class has no digits")
            bad = [d for d in group if not (isinstance(d, int) and 0 <= d <= 9)]
            if bad:
                raise ValueError(f"task {self.name!r}: digits must be integers 0-9, got {bad} in the {label} class")
            if len(set(group)) != len(group):
                raise ValueError(f"task {self.name!r}: repeated digit in the {label} class {group}")
        overlap = set(self.positive) & set(self.negative)
        if overlap:
            raise ValueError(f"task {self.name!r}: digits {sorted(overlap)} are in both classes")

    @property
    def digits(self) -> tuple[int, ...]:
        return tuple(sorted(self.positive + self.negative))


def paper_task(name: str, exclude: tuple[int, ...] = ()) -> BinaryTask:
    """The paper's task: +1 for digits > 4, optionally without some digits.

    ``full``: all digits. ``reduced``: without 1, 7, 4, 9 (paper, Section 2).
    """
    if name == "full":
        excl: set[int] = set(exclude)
    elif name == "reduced":
        excl = {1, 4, 7, 9} | set(exclude)
    else:
        raise ValueError(f"unknown MNIST task {name!r}: expected 'full' or 'reduced' (or build a BinaryTask)")
    bad = [d for d in exclude if not (isinstance(d, int) and 0 <= d <= 9)]
    if bad:
        raise ValueError(f"digits to exclude must be integers 0-9, got {bad}")
    return BinaryTask(
        name=name if not exclude else f"{name}-without-{''.join(map(str, sorted(exclude)))}",
        positive=tuple(d for d in range(5, 10) if d not in excl),
        negative=tuple(d for d in range(0, 5) if d not in excl),
    )


SCALINGS = ("unit", "pixel", "raw")


def check_variance(variance: float) -> float:
    """Reject a negative or non-finite noise variance."""
    v = float(variance)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"noise variance must be a finite number >= 0, got {variance!r}")
    return v


def add_gaussian_noise(x: torch.Tensor, variance: float, seed: int) -> torch.Tensor:
    """``x + N(0, variance)`` elementwise, from a generator seeded with ``seed``.

    The noise is drawn on the CPU so the same seed gives the same noise on any device.
    """
    v = check_variance(variance)
    if v == 0:
        return x
    g = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=g, dtype=torch.float32) * math.sqrt(v)
    return x + noise.to(device=x.device, dtype=x.dtype)


def unit_norm(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to Euclidean norm 1 (the theory needs ``c <= ||x|| <= 1``).

    An all-zero row is an error, since it has no direction.
    """
    norms = x.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("an input row is all zeros and cannot be scaled to unit norm")
    return x / norms


@dataclass
class BinaryData:
    """Inputs ``x`` (n x d, float32) and labels ``y`` in {-1, +1} (float32)."""

    x: torch.Tensor
    y: torch.Tensor
    digits: torch.Tensor
    task: BinaryTask
    scaling: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def labels01(self) -> torch.Tensor:
        """Labels as 0/1 (the paper's table uses 1 for digits > 4)."""
        return (self.y > 0).to(self.y.dtype)


def binary_mnist(
    task: str | BinaryTask = "full",
    train: bool = True,
    *,
    scaling: str = "unit",
    noise_variance: float = 0.0,
    noise_seed: int = 0,
    limit: int | None = None,
    subset_seed: int = 0,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
) -> BinaryData:
    """A binary MNIST task as tensors on ``device``.

    ``scaling``: ``"pixel"`` divides by 255 (pixels in [0, 1]); ``"unit"`` then
    scales every image to Euclidean norm 1, as the theory assumes (``c = 1``);
    ``"raw"`` keeps 0..255 as floats. Noise (variance on the [0, 1] pixel scale)
    is added after dividing by 255 and before unit scaling. ``limit`` keeps a
    random subset of that many points (chosen by ``subset_seed``).
    """
    if isinstance(task, str):
        task = paper_task(task)
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}: expected one of {SCALINGS}")
    check_variance(noise_variance)
    images, digits = load_mnist(train=train, root=root)
    keep = torch.isin(digits, torch.tensor(task.digits))
    images, digits = images[keep], digits[keep]
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if limit < len(digits):
            g = torch.Generator().manual_seed(int(subset_seed))
            idx = torch.randperm(len(digits), generator=g)[:limit].sort().values
            images, digits = images[idx], digits[idx]
    x = images.reshape(len(images), -1).to(torch.float32)
    if scaling != "raw":
        x = x / 255.0
    x = add_gaussian_noise(x, noise_variance, noise_seed)
    if scaling == "unit":
        x = unit_norm(x)
    y = torch.where(torch.isin(digits, torch.tensor(task.positive)), 1.0, -1.0).to(torch.float32)
    return BinaryData(x=x.to(device), y=y.to(device), digits=digits.to(device), task=task, scaling=scaling)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``
    as named (:func:`kdlib.validate.device`: another name, or CUDA on a machine without it,
    is a ``ValueError`` listing the allowed values)."""
    from kdlib.validate import device as check_device

    if isinstance(device, torch.device):
        return device
    device = check_device("device", device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
