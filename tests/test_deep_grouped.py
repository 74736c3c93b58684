"""kdlib.grouped: many VGGs trained as one grouped net equal the same VGGs trained one by one,
and the GPU script's dry run (the same code path on the CPU) writes well-formed records."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from kdlib.cifar import ImageSplit
from kdlib.chapters import deep_networks
from kdlib.experiments import deep
from kdlib.__main__ import grouped as main  # python -m kdlib grouped
from kdlib.grouped import GroupedVGG, Job, _to_input, train_group
from kdlib.results import ResultStore
from kdlib.train_cnn import CNNTrainConfig, kd_loss, predict_logits, resolve_precision, train_classifier
from kdlib.vgg import build_vgg

W = 1 / 16  # 4 to 32 channels: a few milliseconds per step


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    # a strong signal (the class shifts every pixel), so no validation image sits on the fence and
    # float rounding cannot flip a prediction that early stopping depends on
    x = 0.3 * torch.rand(n, 3, 32, 32, generator=g) + 0.5 * y.view(-1, 1, 1, 1)
    return x, y


def test_grouped_forward_equals_the_separate_nets():
    nets = [build_vgg(spec, width_mult=W, seed=s) for spec, s in (("vgg8+3", 1), ("vgg8+3", 2), ("vgg8+3", 3))]
    g = GroupedVGG(nets)
    x = torch.randn(3, 5, 3, 32, 32)
    for mode in ("train", "eval"):
        for m in [g, *nets]:
            m.train(mode == "train")
        ref = torch.stack([n(x[k]) for k, n in enumerate(nets)])
        assert torch.allclose(g(_to_input(x)), ref, atol=1e-5), mode
    # unpacking gives the nets back
    back = g.unpack(1, build_vgg("vgg8+3", width_mult=W))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(back.state_dict().values(), nets[1].state_dict().values())
               if a.dtype.is_floating_point)
    with pytest.raises(ValueError, match="same layers"):
        GroupedVGG([build_vgg("vgg8+3", width_mult=W), build_vgg("vgg2+3", width_mult=W)])


@pytest.mark.parametrize("augment", [False, True])
def test_training_together_equals_training_one_by_one(augment):
    """Two hard students and one soft student (T = 2), each with its own data, init and batch
    order, trained 3 epochs together and alone: the same epochs and validation picks, and
    weights equal to float rounding (1e-4 absolute: Adam steps amplify float32 noise in small
    weights, and oneDNN may pick other kernels from run to run; a wrong seed or image is 1e-2).
    In float32: the claim is equality to rounding, which bf16's 8-bit mantissa would blur."""
    cfg = CNNTrainConfig(lr=1e-3, weight_decay=5e-4, batch_size=16, max_epochs=3, patience=2, augment=augment,
                         precision="float32")
    data = [(_images(64, 10 + d), _images(40, 20 + d), _images(40, 30 + d)) for d in range(2)]
    X = {k: torch.stack([d[i][j] for d in data]) for i, k in enumerate(("tr", "va", "te")) for j in (0,)}
    Y = {k: torch.stack([d[i][1] for d in data]) for i, k in enumerate(("tr", "va", "te"))}
    teacher_logits = torch.randn(2, 64, 2) * 2
    jobs = [Job("vgg2+3", 7, 0, 0), Job("vgg2+3", 8, 1, 1), Job("vgg2+3", 7, 0, 1, temperature=2.0)]
    res = train_group(jobs, X["tr"], Y["tr"], X["va"], Y["va"], X["te"], Y["te"], cfg, W,
                      teacher_logits=teacher_logits, keep_train_logits=True)
    for k, job in enumerate(jobs):
        alone = build_vgg(job.spec, width_mult=W, seed=job.init_seed)
        c = CNNTrainConfig(**{**cfg.__dict__, "seed": job.order_seed, "temperature": job.temperature or 1.0})
        r = train_classifier(alone, ImageSplit(X["tr"][job.slot], Y["tr"][job.slot]),
                             ImageSplit(X["va"][job.slot], Y["va"][job.slot]), c,
                             teacher_logits=None if job.temperature is None else teacher_logits[job.slot])
        assert (res.best_epoch[k], res.epochs_run[k]) == (r.best_epoch, r.epochs_run)
        assert res.best_val_acc[k] == pytest.approx(r.best_val_acc, abs=1e-6)
        for (name, a), b in zip(alone.state_dict().items(), res.models[k].state_dict().values()):
            if a.dtype.is_floating_point:
                assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), (k, name, (a - b).abs().max())
        z = predict_logits(alone, X["tr"][job.slot], precision="float32")
        assert torch.allclose(res.train_logits[k], z, atol=1e-4)
    # the soft job's loss is kd_loss: a sanity check of the reference itself
    assert kd_loss(torch.zeros(1, 2), torch.tensor([[0.0, 5.0]]), 2.0).item() == pytest.approx(0.6931472, abs=1e-6)


def test_dry_run_writes_records_the_store_reads(tmp_path):
    try:
        rc = main(["--dry-run", "--out", str(tmp_path), "--no-progress", "--precision", "float32"])
    except Exception as exc:  # noqa: BLE001
        from kdlib.data import DataUnavailableError

        if isinstance(exc, DataUnavailableError):
            pytest.skip(f"CIFAR data not available: {exc}")
        raise
    assert rc == 0
    store = ResultStore(tmp_path)
    records = store.records(deep.NAME)
    assert len(records) == 2
    for cfg, label in zip(deep.sweep("smoke", (0.0, 0.1)), ("smoke", "smoke+T4")):
        rec = store.load(deep.NAME, cfg)  # the key of the config deep.run would store
        assert rec is not None and rec["config"]["profile"] == label
        assert "kdlib.grouped" in rec["provenance"]["trainer"]
        assert rec["provenance"]["precision"] == "float32"
        rows = rec["rows"]
        nets = [("teacher", "hard"), ("student", "hard"), ("student", "soft")]
        nets += [("student", f"soft T={t:g}") for t in cfg.extra_temperatures]
        assert len(rows) == len(nets) * cfg.runs
        assert sorted((r["run"], r["model"], r["mode"]) for r in rows) == sorted(
            (r, m, mode) for r in range(cfg.runs) for m, mode in nets)
        for row in rows:
            assert 0 <= row["test_acc"] <= 100 and 1 <= row["best_epoch"] <= row["epochs_run"] <= cfg.max_epochs
            assert row["epochs_run"] == cfg.max_epochs or row["epochs_run"] == row["best_epoch"] + cfg.patience
            if row["model"] == "teacher":
                assert 0.5 <= row["train_confidence"] <= 1
        (s,) = deep_networks.summarize([rec])
        assert s["runs"] == cfg.runs
    # the same records as kdlib.experiments.deep.run computes one net at a time, both in float32
    # (float rounding of grouped vs plain convolutions may flip a test image or two: 0.25 points =
    # 3 images; in bf16 the two orders of summation differ by more, seen up to 0.58 points)
    cfg = deep.sweep("smoke", (0.1,))[0]
    seq = deep.run(dataclasses.replace(cfg, progress=False, device="cpu", precision="float32"))
    key = lambda r: (r["run"], r["model"], r["mode"])  # noqa: E731
    grouped = {key(r): r for r in store.load(deep.NAME, cfg)["rows"]}
    assert grouped.keys() == {key(r) for r in seq.rows}
    for r in seq.rows:
        g = grouped[key(r)]
        assert (g["best_epoch"], g["epochs_run"]) == (r["best_epoch"], r["epochs_run"]), key(r)
        assert abs(g["test_acc"] - r["test_acc"]) <= 0.25, key(r)
        for k in ("train_confidence", "label_confidence"):
            if k in r:
                assert abs(g[k] - r[k]) < 1e-4


def test_compacting_the_group_changes_nothing():
    """Nets that stop at different epochs (one task easy, one with random labels), the group
    rebuilt whenever a net stops (``compact_below=0.99``): each net still ends as it does alone.
    Random labels make training chaotic (Adam divides by tiny second moments), so float
    rounding grows to about 1e-3 in the weights within six epochs, with or without
    compaction; the stopping epochs and the test accuracy are the sharp checks here (float32)."""
    cfg = CNNTrainConfig(lr=1e-3, weight_decay=5e-4, batch_size=16, max_epochs=6, patience=1, precision="float32")
    easy = [_images(48, s) for s in (1, 2, 3)]
    g = torch.Generator().manual_seed(5)
    noisy = [(x, torch.randint(0, 2, (len(y),), generator=g)) for x, y in (_images(48, s) for s in (4, 5, 6))]
    X = {k: torch.stack([easy[i][0], noisy[i][0]]) for i, k in enumerate(("tr", "va", "te"))}
    Y = {k: torch.stack([easy[i][1], noisy[i][1]]) for i, k in enumerate(("tr", "va", "te"))}
    jobs = [Job("vgg2+3", 3, 0, 0), Job("vgg2+3", 4, 1, 1), Job("vgg2+3", 5, 2, 1), Job("vgg2+3", 6, 3, 0)]
    res = train_group(jobs, X["tr"], Y["tr"], X["va"], Y["va"], X["te"], Y["te"], cfg, W, compact_below=0.99)
    assert len(set(res.epochs_run)) > 1, "the nets should stop at different epochs for this test to mean anything"
    for k, job in enumerate(jobs):
        alone = build_vgg(job.spec, width_mult=W, seed=job.init_seed)
        c = CNNTrainConfig(**{**cfg.__dict__, "seed": job.order_seed})
        r = train_classifier(alone, ImageSplit(X["tr"][job.slot], Y["tr"][job.slot]),
                             ImageSplit(X["va"][job.slot], Y["va"][job.slot]), c)
        assert (res.best_epoch[k], res.epochs_run[k]) == (r.best_epoch, r.epochs_run), k
        for (name, a), b in zip(alone.state_dict().items(), res.models[k].state_dict().values()):
            if a.dtype.is_floating_point:
                assert torch.allclose(a, b, rtol=1e-3, atol=3e-3), (k, name, (a - b).abs().max())
        te = ImageSplit(X["te"][job.slot], Y["te"][job.slot])
        from kdlib.train_cnn import accuracy

        assert res.test_acc[k] == pytest.approx(accuracy(alone, te, precision="float32"), abs=1e-6)


def test_grouped_imports_no_experiment():
    """kdlib.grouped takes configs: it imports nothing from kdlib.experiments or kdlib.chapters (the
    command line, kdlib.__main__.grouped, builds the configs and writes the store)."""
    import ast

    import kdlib.grouped

    tree = ast.parse(open(kdlib.grouped.__file__).read())
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in names if m.startswith(("kdlib.experiments", "kdlib.chapters"))]
