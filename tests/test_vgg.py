"""Tests for kdlib.vgg: the layer specs of the paper's VGG 8+3 and VGG 2+3."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdlib.vgg import SPECS, VGGSpec, build_vgg, count_layers


def _convs(m):
    return [mod.out_channels for mod in m.modules() if isinstance(mod, nn.Conv2d)]


def _linears(m):
    return [(mod.in_features, mod.out_features) for mod in m.modules() if isinstance(mod, nn.Linear)]


@pytest.mark.parametrize("name, n_conv", [("vgg8+3", 8), ("vgg2+3", 2)])
@pytest.mark.parametrize("w", [1.0, 0.125])
def test_specs_build_stated_numbers_of_layers(name, n_conv, w):
    m = build_vgg(name, width_mult=w)
    assert count_layers(m) == (n_conv, 3)
    assert SPECS[name].n_conv == n_conv and SPECS[name].n_linear == 3


def test_exact_full_width_layers():
    t = build_vgg("vgg8+3")
    assert _convs(t) == [64, 128, 256, 256, 512, 512, 512, 512]  # VGG-11's convolutions
    assert _linears(t) == [(512, 512), (512, 512), (512, 2)]  # 1x1x512 after five pools
    s = build_vgg("vgg2+3")
    assert _convs(s) == [64, 128]
    assert _linears(s) == [(8 * 8 * 128, 512), (512, 512), (512, 2)]


def test_width_multiplier_scales_channels_and_hidden_widths():
    s = build_vgg("vgg2+3", width_mult=0.125)
    assert _convs(s) == [8, 16]
    assert _linears(s) == [(8 * 8 * 16, 64), (64, 64), (64, 2)]
    assert _convs(build_vgg("vgg8+3", width_mult=1 / 16)) == [4, 8, 16, 16, 32, 32, 32, 32]


def test_forward_shape_and_seeded_init():
    x = torch.rand(4, 3, 32, 32)
    a, b = build_vgg("vgg2+3", width_mult=0.125, seed=3), build_vgg("vgg2+3", width_mult=0.125, seed=3)
    c = build_vgg("vgg2+3", width_mult=0.125, seed=4)
    a.eval(), b.eval(), c.eval()
    assert a(x).shape == (4, 2)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_batch_norm_optional():
    m = build_vgg("vgg8+3", width_mult=0.125, batch_norm=False)
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in m.modules())
    assert sum(isinstance(mod, nn.BatchNorm2d) for mod in build_vgg("vgg8+3", width_mult=0.125).modules()) == 8


def test_bad_specs():
    with pytest.raises(ValueError, match="unknown VGG spec"):
        build_vgg("vgg19")
    with pytest.raises(ValueError, match="width multiplier"):
        build_vgg("vgg2+3", width_mult=0)
    with pytest.raises(ValueError, match="channel count"):
        VGGSpec("x", (64, "P"), (10,))
    with pytest.raises(ValueError, match="too many pools"):
        build_vgg(VGGSpec("x", (4,) + ("M",) * 6, (8,)))


def test_macs_hand_count_and_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    from kdlib.vgg import VGGSpec, epoch_flops, forward_macs, layer_macs

    # conv 3->2 on 4x4: 16*2*3*9 = 864; pool to 2x2; conv 2->3: 4*3*2*9 = 216; pool to 1x1;
    # fc 3->5: 15; fc 5->2: 10. Total 1105 MACs.
    spec = VGGSpec("tiny", (2, "M", 3, "M"), (5,))
    assert [m for _, m in layer_macs(spec, in_size=4)] == [864, 216, 15, 10]
    assert forward_macs(spec, in_size=4) == 1105
    # torch's own counter (2 FLOPs per MAC in conv and matmul) on the real nets, forward pass
    for name, w in (("vgg8+3", 0.25), ("vgg2+3", 0.5)):
        m = build_vgg(name, width_mult=w).eval()
        with FlopCounterMode(display=False) as fc:
            m(torch.rand(2, 3, 32, 32))
        assert fc.get_total_flops() == 2 * 2 * forward_macs(name, w)
    # one epoch: 6 MACs-worth per training image of the full batches, 2 per validation image
    assert epoch_flops(spec, 1.0, 10, 3, 4) == 6 * forward_macs(spec) * 8 + 2 * forward_macs(spec) * 3
    assert forward_macs("vgg8+3") == 153_289_728  # VGG-11's convolutions on 32x32 plus 512-512-2
