"""Tests for kdlib.train_cnn (losses, early stopping) and the chapter-7 experiment's configs and summaries."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kdlib.cifar import ImageSplit
from kdlib.chapters import deep_networks
from kdlib.experiments import deep
from kdlib.train_cnn import CNNTrainConfig, accuracy, hard_loss, kd_loss, predict_logits, train_classifier

# float32 losses of O(1): 1e-6 absolute is a few ulps.
TOL32 = 1e-6


def test_kd_loss_hand_computed():
    # teacher logits (0, ln 3) -> q = (1/4, 3/4); student logits (0, ln 2) -> p = (1/3, 2/3)
    # CE = -(1/4 ln 1/3 + 3/4 ln 2/3) = (1/4) ln 3 + (3/4) ln(3/2)
    t = torch.tensor([[0.0, math.log(3.0)]])
    s = torch.tensor([[0.0, math.log(2.0)]])
    expected = 0.25 * math.log(3) + 0.75 * math.log(1.5)
    assert abs(kd_loss(s, t).item() - expected) < TOL32
    # at temperature 2 the same probabilities come from doubled logits
    assert abs(kd_loss(2 * s, 2 * t, temperature=2.0).item() - expected) < TOL32
    # a uniform student pays ln 2 whatever the teacher says; the batch mean averages rows
    u = torch.zeros(2, 2)
    tt = torch.tensor([[5.0, -1.0], [0.0, math.log(3.0)]])
    assert abs(kd_loss(u, tt).item() - math.log(2)) < TOL32
    assert abs(kd_loss(torch.cat([s, u[:1]]), torch.cat([t, t])).item() - (expected + math.log(2)) / 2) < TOL32


def test_hard_loss_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    y = torch.tensor([1, 0])
    expected = (-math.log(0.75) - math.log(0.25)) / 2
    assert abs(hard_loss(logits, y).item() - expected) < TOL32


def _blobs(n: int, seed: int, flip: bool = False) -> ImageSplit:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 3, 2, 2, generator=g) + (2.0 * y - 1).view(-1, 1, 1, 1)
    return ImageSplit(x, 1 - y if flip else y)


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))


def test_training_learns_a_separable_task():
    m = _linear()
    res = train_classifier(m, _blobs(400, 0), _blobs(200, 1), CNNTrainConfig(lr=0.05, batch_size=50, max_epochs=5, patience=5))
    assert res.best_val_acc > 0.95 and accuracy(m, _blobs(200, 2)) > 0.95


def test_early_stopping_restores_the_best_weights():
    # Validation labels are the training labels flipped: the better the net fits the training
    # set, the worse its validation accuracy, so the best epoch is early and training stops
    # `patience` epochs later; the restored weights must be those of the best epoch.
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def keep(epoch, model, acc):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    m = _linear(1)
    cfg = CNNTrainConfig(lr=0.05, batch_size=50, max_epochs=40, patience=3, weight_decay=0.0)
    val = _blobs(200, 1, flip=True)
    res = train_classifier(m, _blobs(400, 0), val, cfg, epoch_callback=keep)
    assert res.best_epoch == 1 + max(range(len(res.val_acc)), key=lambda i: (res.val_acc[i], -i))
    assert res.best_val_acc == max(res.val_acc)
    assert res.epochs_run == min(cfg.max_epochs, res.best_epoch + cfg.patience) < cfg.max_epochs
    assert res.epochs_run > res.best_epoch
    final = m.state_dict()
    assert all(torch.equal(final[k], snapshots[res.best_epoch][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[res.epochs_run][k]) for k in final)
    assert accuracy(m, val) == res.best_val_acc


def test_soft_training_follows_the_teacher():
    # A teacher that labels by the sign of the first pixel, opposite to the true labels'
    # cluster structure on a part of the data: the soft student must copy the teacher.
    train, val = _blobs(400, 0), _blobs(200, 1)
    w = torch.zeros(2, 12)
    w[1, 0], w[0, 0] = 4.0, -4.0
    t_logits = train.x.flatten(1) @ w.T
    teacher_val_pred = (val.x.flatten(1) @ w.T).argmax(1)
    m = _linear(2)
    cfg = CNNTrainConfig(lr=0.05, batch_size=50, max_epochs=15, patience=15, weight_decay=0.0)
    train_classifier(m, train, ImageSplit(val.x, teacher_val_pred), cfg, teacher_logits=t_logits)
    agree = (predict_logits(m, val.x).argmax(1) == teacher_val_pred).float().mean().item()
    assert agree > 0.9
    with pytest.raises(ValueError, match="teacher_logits"):
        train_classifier(m, train, val, cfg, teacher_logits=t_logits[:10])


@pytest.mark.parametrize("kw", [dict(lr=0.0), dict(weight_decay=-1.0), dict(batch_size=0), dict(patience=0),
                                dict(temperature=0.0), dict(max_epochs=2.5)])
def test_train_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        CNNTrainConfig(**kw)


# ------------------------------------------------------------------ the experiment's configs and summaries

def test_profiles_are_explicit_and_labelled():
    for name, prof in deep.PROFILES.items():
        c = deep.make_config(name, 0.05)
        assert c.profile == name
        assert {k: getattr(c, k) for k in prof} == prof
    paper = deep.make_config("paper", 0.1)
    assert (paper.runs, paper.max_epochs, paper.patience, paper.width_mult, paper.train_limit) == (10, 100, 20, 1.0, None)
    assert deep.make_config("cpu", 0.1, runs=None).profile == "cpu"  # None keeps the profile's value
    assert deep.make_config("cpu", 0.1, runs=7).profile == "cpu+custom"
    assert deep.make_config("cpu", 0.1, train_limit=0).train_limit is None
    with pytest.raises(ValueError, match="unknown profile"):
        deep.make_config("gpu", 0.1)
    with pytest.raises(ValueError):
        deep.make_config("cpu", -0.1)
    with pytest.raises(ValueError):
        deep.make_config("cpu", 0.1, lr=-1.0)
    with pytest.raises(ValueError):
        deep.make_config("cpu", 0.1, runs=0)


def test_summary_means_sds_and_paired_gap():
    rows = []
    for r, (t, h, s) in enumerate([(80.0, 70.0, 74.0), (82.0, 72.0, 73.0)]):
        rows += [dict(run=r, model="teacher", mode="hard", test_acc=t),
                 dict(run=r, model="student", mode="hard", test_acc=h),
                 dict(run=r, model="student", mode="soft", test_acc=s)]
    rec = {"rows": rows, "config": {"noise_variance": 0.1, "profile": "cpu"}}
    (s,) = deep_networks.summarize([rec])
    assert (s["teacher"], s["hard"], s["soft"], s["gap"]) == (81.0, 71.0, 73.5, 2.5)
    assert abs(s["teacher_sd"] - math.sqrt(2)) < 1e-12 and abs(s["gap_sd"] - math.sqrt(((4 - 2.5) ** 2 + (1 - 2.5) ** 2))) < 1e-12
    assert (s["paper_teacher"], s["paper_hard"], s["paper_soft"]) == deep.PAPER_FIGURE[0.10]
    assert abs(s["paper_gap"] - 7.8) < 1e-9
    assert "81.0 ± 1.4" in deep_networks.format_table([s])


def test_stored_deep_records_state_profile_and_data_source():
    from kdlib.results import ResultStore

    records = ResultStore().records(deep.NAME)
    if not records:
        pytest.skip("no chapter-7 records stored yet")
    for rec in records:
        prov, cfg = rec["provenance"], rec["config"]
        assert prov["profile"] == cfg["profile"]
        assert prov["data_source"]["name"] in ("cifar10-torchvision", "cifar10-catdog-standin")
        if prov["data_source"]["name"] == "cifar10-catdog-standin":
            assert "NOT the original CIFAR-10" in prov["data_source"]["description"]
        assert len(rec["rows"]) == (3 + len(cfg.get("extra_temperatures", ()))) * cfg["runs"]
        for row in rec["rows"]:
            assert 0 <= row["test_acc"] <= 100 and 1 <= row["best_epoch"] <= row["epochs_run"] <= cfg["max_epochs"]
            assert row["epochs_run"] == cfg["max_epochs"] or row["epochs_run"] == row["best_epoch"] + cfg["patience"]


def test_augmentation_flips_and_shifts_as_stated():
    import torch.nn.functional as F

    from kdlib.train_cnn import SHIFT, apply_augment, augment_batch, augment_draws

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 32, 32, generator=g)
    flip, shift = augment_draws(6, torch.Generator().manual_seed(1), x.device)
    out = apply_augment(x, flip, shift)
    for i in range(6):
        img = x[i].flip(-1) if flip[i] else x[i]
        pad = F.pad(img, (SHIFT,) * 4)
        dy, dx = shift[i].tolist()
        assert torch.equal(out[i], pad[:, dy : dy + 32, dx : dx + 32])
    # shift (4, 4) without a flip is the identity; the draws come from the generator
    assert torch.equal(apply_augment(x, torch.zeros(6, dtype=torch.bool), torch.full((6, 2), SHIFT)), x)
    assert torch.equal(augment_batch(x, torch.Generator().manual_seed(1)), out)
    assert 0 <= shift.min() and shift.max() <= 2 * SHIFT
