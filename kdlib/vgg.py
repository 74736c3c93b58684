"""VGG-style convolutional nets built from a layer spec (paper, Section 4).

A spec lists the convolutional part as VGG does (Simonyan & Zisserman 2015): an
integer ``c`` is a 3x3 convolution (padding 1) with ``c`` output channels, followed by
batch normalisation (optional) and ReLU; ``"M"`` is a 2x2 max-pool of stride 2. The
classifier flattens the last feature map and applies the fully connected layers
``hidden[0], hidden[1], ..., n_classes`` with ReLU between them.

The two nets of the paper on 32x32 CIFAR images:

- **VGG 8+3** (teacher) = VGG-11's eight convolutions
  ``64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M`` and three fully connected
  layers ``512 -> 512 -> 512 -> 2`` (the feature map is 1x1x512 after five pools).
- **VGG 2+3** (student) keeps VGG-11's first two convolutions ``64, M, 128, M`` and the
  same three fully connected layers ``8*8*128 = 8192 -> 512 -> 512 -> 2``.

ImageNet VGG uses 4096 hidden units; on 32x32 inputs 512 is the usual choice and the
paper does not say. A width multiplier ``w`` scales every channel count and hidden width
to ``max(1, round(w * c))`` for the smaller CPU profile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

LayerItem = Union[int, str]

#: VGG-11's convolutional part ("A" in Simonyan & Zisserman, Table 1).
VGG11_CONV: tuple[LayerItem, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


@dataclass(frozen=True)
class VGGSpec:
    """A VGG-style net: convolutional items (channels or ``"M"``), hidden widths of the classifier."""

    name: str
    conv: tuple[LayerItem, ...]
    hidden: tuple[int, ...]
    batch_norm: bool = True

    def __post_init__(self) -> None:
        if not any(isinstance(c, int) for c in self.conv):
            raise ValueError(f"spec {self.name!r}: needs at least one convolution")
        for c in self.conv:
            if not ((isinstance(c, int) and not isinstance(c, bool) and c >= 1) or c == "M"):
                raise ValueError(f"spec {self.name!r}: a conv item is a channel count >= 1 or 'M', got {c!r}")
        if any((not isinstance(h, int)) or h < 1 for h in self.hidden):
            raise ValueError(f"spec {self.name!r}: hidden widths must be integers >= 1, got {self.hidden}")

    @property
    def n_conv(self) -> int:
        return sum(isinstance(c, int) for c in self.conv)

    @property
    def n_linear(self) -> int:
        return len(self.hidden) + 1

    def scaled(self, width_mult: float) -> "VGGSpec":
        """Every channel count and hidden width times ``width_mult`` (rounded, at least 1)."""
        if not width_mult > 0:
            raise ValueError(f"width multiplier must be > 0, got {width_mult}")
        s = lambda c: max(1, int(round(c * width_mult)))  # noqa: E731
        return VGGSpec(
            name=self.name if width_mult == 1 else f"{self.name} x{width_mult:g}",
            conv=tuple(c if c == "M" else s(c) for c in self.conv),
            hidden=tuple(s(h) for h in self.hidden),
            batch_norm=self.batch_norm,
        )


SPECS: dict[str, VGGSpec] = {
    "vgg8+3": VGGSpec("VGG 8+3", VGG11_CONV, (512, 512)),
    "vgg2+3": VGGSpec("VGG 2+3", VGG11_CONV[:4], (512, 512)),
}


class VGG(nn.Module):
    """Features (convolutions) then a flattening classifier; returns logits (N x n_classes)."""

    def __init__(self, spec: VGGSpec, n_classes: int = 2, in_channels: int = 3, in_size: int = 32) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.spec = spec
        layers: list[nn.Module] = []
        c_in, size = in_channels, in_size
        for item in spec.conv:
            if item == "M":
                if size < 2:
                    raise ValueError(f"spec {spec.name!r}: too many pools for {in_size}x{in_size} inputs")
                layers.append(nn.MaxPool2d(2, 2))
                size //= 2
            else:
                layers.append(nn.Conv2d(c_in, int(item), 3, padding=1, bias=not spec.batch_norm))
                if spec.batch_norm:
                    layers.append(nn.BatchNorm2d(int(item)))
                layers.append(nn.ReLU(inplace=True))
                c_in = int(item)
        self.features = nn.Sequential(*layers)
        widths = [c_in * size * size, *spec.hidden, n_classes]
        fc: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            fc.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                fc.append(nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(*fc)
        self.fc_widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def describe(self) -> str:
        """The exact layer list, e.g. ``conv 64-M-128-M | fc 8192-512-512-2``."""
        return "conv " + "-".join(str(c) for c in self.spec.conv) + " | fc " + "-".join(map(str, self.fc_widths))


def build_vgg(
    spec: str | VGGSpec,
    *,
    width_mult: float = 1.0,
    n_classes: int = 2,
    in_size: int = 32,
    batch_norm: bool | None = None,
    seed: int | None = None,
) -> VGG:
    """A VGG net from a named spec (``"vgg8+3"``, ``"vgg2+3"``) or a :class:`VGGSpec`.

    ``seed`` seeds PyTorch's default initialisation (Kaiming-uniform) for this net.
    """
    if isinstance(spec, str):
        if spec not in SPECS:
            raise ValueError(f"unknown VGG spec {spec!r}: expected one of {sorted(SPECS)}")
        spec = SPECS[spec]
    if batch_norm is not None and batch_norm != spec.batch_norm:
        spec = VGGSpec(spec.name, spec.conv, spec.hidden, batch_norm)
    spec = spec.scaled(width_mult)
    if seed is None:
        return VGG(spec, n_classes=n_classes, in_size=in_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return VGG(spec, n_classes=n_classes, in_size=in_size)


def count_layers(model: nn.Module) -> tuple[int, int]:
    """(number of Conv2d, number of Linear) modules."""
    mods = list(model.modules())
    return sum(isinstance(m, nn.Conv2d) for m in mods), sum(isinstance(m, nn.Linear) for m in mods)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- FLOP count

def layer_macs(spec: VGGSpec, n_classes: int = 2, in_channels: int = 3, in_size: int = 32) -> list[tuple[str, int]]:
    """Multiply-accumulates of one forward pass on one image, per convolution and linear layer.

    A 3x3 convolution (padding 1) from ``c_in`` to ``c_out`` channels on an ``s x s`` map
    costs ``s^2 * c_out * c_in * 9`` MACs; a linear layer ``a -> b`` costs ``a * b``.
    Batch normalisation, ReLU, pooling, biases and the loss are left out (they are
    elementwise, O(activations) rather than O(activations x fan-in)).
    """
    out: list[tuple[str, int]] = []
    c_in, size = in_channels, in_size
    for item in spec.conv:
        if item == "M":
            size //= 2
        else:
            out.append((f"conv {c_in}->{item} @{size}x{size}", size * size * int(item) * c_in * 9))
            c_in = int(item)
    widths = [c_in * size * size, *spec.hidden, n_classes]
    out += [(f"fc {a}->{b}", a * b) for a, b in zip(widths[:-1], widths[1:])]
    return out


def forward_macs(spec: str | VGGSpec, width_mult: float = 1.0, **kw: int) -> int:
    """Total MACs of one forward pass on one image (:func:`layer_macs` summed)."""
    if isinstance(spec, str):
        if spec not in SPECS:
            raise ValueError(f"unknown VGG spec {spec!r}: expected one of {sorted(SPECS)}")
        spec = SPECS[spec]
    return sum(m for _, m in layer_macs(spec.scaled(width_mult), **kw))


def epoch_flops(spec: str | VGGSpec, width_mult: float, n_train: int, n_val: int, batch_size: int) -> float:
    """FLOPs of one training epoch as :func:`kdlib.train_cnn.train_classifier` runs it.

    One MAC is 2 FLOPs; a training step costs 3 forward passes (the forward pass, and a
    backward pass of about twice its cost: gradients with respect to the activations and
    to the weights). So ``6 * MACs`` per training image, over the ``floor(n_train / b) * b``
    images of the full batches, plus ``2 * MACs`` per validation image for the accuracy
    measured after every epoch.
    """
    macs = forward_macs(spec, width_mult)
    b = min(batch_size, n_train)
    return 6.0 * macs * (n_train // b) * b + 2.0 * macs * n_val
