"""The fast CPU path of kdlib.train_cnn and kdlib.grouped: bf16 autocast with channels_last
against float32 in the default layout.

Tolerances. bf16 keeps 8 significant bits: one rounding is a relative error of at most
2^-9 ~ 0.002. A net's logits pass through a few dozen roundings (inputs of every
convolution and matrix product) whose errors mostly average out, so the loss of one step
(about ln 2 at initialisation) agrees with float32's to 0.01 absolute, while float32
against itself agrees to 1e-6; a loss left in bf16 or a batch norm that updated bf16
statistics would show as a dtype, a wrong op (a conv in float32) as a run no faster and
bit-equal logits. Training amplifies the rounding (Adam, chaotic early epochs), so the
per-epoch training losses of a short run are compared over its first two epochs only
(0.03), and accuracy after a few epochs against the spread between seeds.
"""
from __future__ import annotations

import statistics

import pytest
import torch

from kdlib.cifar import ImageSplit
from kdlib.grouped import Job, train_group
from kdlib.train_cnn import (PRECISIONS, CNNTrainConfig, _autocast, _prepare, accuracy, cpu_has_bf16, hard_loss,
                             resolve_precision, train_classifier)
from kdlib.vgg import build_vgg

W = 1 / 16
ONE_STEP_LOSS_TOL = 0.01
SHORT_RUN_LOSS_TOL = 0.03


def _task(n: int, seed: int) -> ImageSplit:
    """Two classes told apart by a faint saddle pattern under pixel noise (a task a small VGG
    learns to 70-100% in a few epochs, depending on its seed)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    t = torch.linspace(-1, 1, 32)
    pattern = (t.view(1, 32) * t.view(32, 1)).expand(3, 32, 32)
    x = 0.5 + 0.06 * (2 * y - 1).view(-1, 1, 1, 1) * pattern + 0.25 * torch.randn(n, 3, 32, 32, generator=g)
    return ImageSplit(x, y)


def test_bf16_detection_reads_the_processor_flags():
    """``auto`` is bf16 exactly where /proc/cpuinfo lists avx512_bf16 or amx_bf16 (on Linux)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo to check the detection against")
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    expected = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert cpu_has_bf16() == expected
    assert resolve_precision("auto", "cpu") == ("bf16" if expected else "float32")
    assert resolve_precision("float32", "cpu") == "float32" and resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision"):
        CNNTrainConfig(precision="half")
    assert PRECISIONS == ("auto", "float32", "bf16")


def test_auto_is_float32_where_the_processor_lacks_bf16(monkeypatch):
    import kdlib.train_cnn as tc

    monkeypatch.setattr(tc, "cpu_has_bf16", lambda: False)
    assert tc.resolve_precision("auto", "cpu") == "float32"
    m = build_vgg("vgg2+3", width_mult=W, seed=0)
    x = tc._prepare(m, torch.rand(4, 3, 32, 32), "auto")
    assert x.is_contiguous() and not torch.is_autocast_enabled("cpu")
    with tc._autocast(torch.device("cpu"), "auto"):
        assert m(x).dtype == torch.float32


def test_one_step_agrees_with_float32():
    """Same net, same batch: logits in bf16, loss in float32 within ONE_STEP_LOSS_TOL of the
    float32 loss; gradients close to parallel (cosine > 0.9); weights, batch-norm statistics and loss float32."""
    data = _task(64, 0)
    out = {}
    for prec in ("float32", "bf16"):
        m = build_vgg("vgg8+3", width_mult=W, seed=0)
        x = _prepare(m, data.x, prec)
        with _autocast(x.device, prec):
            z = m(x)
        loss = hard_loss(z, data.y)
        loss.backward()
        bn = m.features[1]
        out[prec] = dict(z=z, loss=loss, grad=torch.cat([p.grad.flatten() for p in m.parameters()]),
                         mean=bn.running_mean.clone(), var=bn.running_var.clone(),
                         dtypes={p.dtype for p in m.parameters()} | {bn.running_mean.dtype, bn.running_var.dtype},
                         channels_last=m.features[0].weight.is_contiguous(memory_format=torch.channels_last))
    f, b = out["float32"], out["bf16"]
    assert f["z"].dtype == torch.float32 and b["z"].dtype == torch.bfloat16  # the bf16 path is taken
    assert b["channels_last"] and not f["channels_last"]
    assert b["loss"].dtype == torch.float32 and b["dtypes"] == {torch.float32}
    assert abs(b["loss"].item() - f["loss"].item()) < ONE_STEP_LOSS_TOL
    assert not torch.equal(b["z"].float(), f["z"])  # bf16 rounding is there to be measured
    cos = torch.nn.functional.cosine_similarity(b["grad"], f["grad"], dim=0).item()
    assert cos > 0.9, cos  # measured 0.95 (bf16 backward through 8 convolutions); unrelated gradients: ~0
    # batch-norm statistics of the first layer: float32 buffers, equal to bf16 rounding of its input
    assert torch.allclose(b["mean"], f["mean"], atol=1e-3) and torch.allclose(b["var"], f["var"], rtol=1e-2)


def test_short_run_losses_agree():
    tr, va = _task(256, 1), _task(128, 2)
    losses = {}
    for prec in ("float32", "bf16"):
        m = build_vgg("vgg2+3", width_mult=W, seed=3)
        res = train_classifier(m, tr, va, CNNTrainConfig(batch_size=32, max_epochs=2, patience=2, seed=0,
                                                         augment=True, precision=prec))
        assert res.precision == prec
        losses[prec] = res.train_loss
    diff = max(abs(a - b) for a, b in zip(losses["float32"], losses["bf16"]))
    assert diff < SHORT_RUN_LOSS_TOL, (losses, diff)


def test_a_few_epochs_reach_the_same_accuracy():
    """Four seeds each, five epochs: the mean test accuracy of bf16 and float32 differ by less
    than twice the standard error of that difference (from the seeds' spread), plus 2 points
    for rounding of the verdict on 512 test images."""
    tr, va, te = _task(512, 4), _task(256, 5), _task(512, 6)
    acc: dict[str, list[float]] = {}
    for prec in ("float32", "bf16"):
        acc[prec] = []
        for s in range(4):
            m = build_vgg("vgg2+3", width_mult=W, seed=10 + s)
            train_classifier(m, tr, va, CNNTrainConfig(batch_size=64, max_epochs=5, patience=5, seed=s,
                                                       precision=prec))
            acc[prec].append(100 * accuracy(m, te, precision=prec))
    f, b = acc["float32"], acc["bf16"]
    assert statistics.fmean(f) > 60, f"the task should be learnt in float32 for this test to mean anything: {f}"
    se = (statistics.variance(f) / len(f) + statistics.variance(b) / len(b)) ** 0.5
    assert abs(statistics.fmean(b) - statistics.fmean(f)) <= 2 * se + 2.0, acc


def test_grouped_bf16_matches_its_float32_run():
    """kdlib.grouped in bf16 against float32, two epochs: training logits within 0.1, test
    accuracy within 5 points (two of 40 images)."""
    tr, va, te = (_task(64, 7), _task(40, 8), _task(40, 9))
    X = {k: torch.stack([d.x, d.x]) for k, d in (("tr", tr), ("va", va), ("te", te))}
    Y = {k: torch.stack([d.y, d.y]) for k, d in (("tr", tr), ("va", va), ("te", te))}
    jobs = [Job("vgg2+3", 7, 0, 0), Job("vgg2+3", 8, 1, 1)]
    res = {}
    for prec in ("float32", "bf16"):
        cfg = CNNTrainConfig(batch_size=16, max_epochs=2, patience=2, precision=prec)
        res[prec] = train_group(jobs, X["tr"], Y["tr"], X["va"], Y["va"], X["te"], Y["te"], cfg, W,
                                keep_train_logits=True)
        assert res[prec].precision == prec
    f, b = res["float32"], res["bf16"]
    assert b.train_logits.dtype == torch.float32
    assert (b.train_logits - f.train_logits).abs().max().item() < 0.1
    assert max(abs(x - y) for x, y in zip(b.test_acc, f.test_acc)) <= 0.05


def test_regeneration_keeps_the_precision_of_the_record():
    """Old records (no precision field) regenerate in float32 on a CPU; newer ones in the
    precision their provenance names. The key does not change with the precision."""
    from kdlib.experiments import deep
    from kdlib.regenerate import config_from_record
    from kdlib.results import config_key, config_dict

    cfg = deep.make_config("smoke", 0.1)
    old = {k: v for k, v in config_dict(cfg).items() if k != "precision"}
    rec = {"config": old, "provenance": {"device": "cpu (x86_64, 2 cores, 1 thread)"}}
    assert config_from_record(deep, rec).precision == "float32"
    rec["provenance"]["device"] = "NVIDIA H200"
    assert config_from_record(deep, rec).precision == "auto"
    rec["provenance"]["precision"] = "bf16"
    assert config_from_record(deep, rec).precision == "bf16"
    keys = {config_key(deep.NAME, deep.make_config("smoke", 0.1, precision=p)) for p in PRECISIONS}
    assert keys == {config_key(deep.NAME, old)}


def test_float32_leaves_the_images_and_the_net_as_given():
    """The float32 path is the old one bit for bit: the images keep their strides (the data sets
    are channels-last strided views, which choose the convolution's layout), the net its layout.
    Making them contiguous changed the teacher's logits in the last bits and a soft student by
    3 points (measured on the stored cpu record, run 0 at noise 0.2)."""
    m = build_vgg("vgg2+3", width_mult=W, seed=0)
    x = torch.rand(4, 32, 32, 3).permute(0, 3, 1, 2)  # NHWC memory, as kdlib.cifar holds the images
    assert _prepare(m, x, "float32") is x
    assert m.features[0].weight.is_contiguous()
    assert _prepare(m, x, "bf16").is_contiguous(memory_format=torch.channels_last)
