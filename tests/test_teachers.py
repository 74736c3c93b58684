"""kdlib.teachers: trained teachers stored by their settings, reloaded exactly, and retrained alike."""
from __future__ import annotations

import math

import pytest
import torch

import kdlib.teachers as teachers
from kdlib.data import BinaryData, BinaryTask
from kdlib.experiments import table1
from kdlib.teachers import TeacherStore, TeacherStoreError, load_or_train_teacher, teacher_key, teacher_settings
from kdlib.train import PGDConfig, evaluate, train_teacher

PGD = PGDConfig(lr=8.0, epochs=3, batch_size=32, B=math.inf, order_seed=0)


def _toy(n: int = 200, d: int = 10, seed: int = 0) -> BinaryData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.where(x[:, 0] + 0.5 * x[:, 1] > 0, 1.0, -1.0)
    return BinaryData(x=x, y=y, digits=(y > 0).long(), task=BinaryTask("toy", (1,), (0,)), scaling="unit")


def _store(tmp_path) -> TeacherStore:
    return TeacherStore(tmp_path / "teachers")


def test_a_stored_teacher_reloads_to_exactly_the_saved_weights(tmp_path):
    data, store = _toy(), _store(tmp_path)
    net = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=store)
    assert not torch.equal(net.W, net.W0)  # it was trained
    files = list(store.root.glob("*.pt"))
    assert len(files) == 1 and not list(store.root.glob(".*.tmp"))
    again = store.load(teacher_settings(data, task="toy", width=16, pgd=PGD, seed=3))
    assert torch.equal(again.W, net.W) and torch.equal(again.W0, net.W0) and torch.equal(again.a, net.a)
    torch.testing.assert_close(again(data.x), net(data.x), atol=0, rtol=0)


def test_a_retrained_teacher_equals_the_stored_one(tmp_path):
    """Same settings, trained again in this process: equal to float tolerance (1e-6; on one machine
    training is deterministic, so in practice exactly)."""
    data, store = _toy(), _store(tmp_path)
    stored = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=store)
    fresh = train_teacher(data, width=16, pgd=PGD, seed=3)
    torch.testing.assert_close(fresh.W, stored.W, atol=1e-6, rtol=1e-6)
    assert float(evaluate(fresh, data.x, data.y)["accuracy"][0]) == float(evaluate(stored, data.x, data.y)["accuracy"][0])


def test_a_stored_teacher_is_reused_without_training(tmp_path, monkeypatch):
    data, store = _toy(), _store(tmp_path)
    first = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=store)

    def no_training(*args, **kwargs):
        raise AssertionError("the stored teacher should have been reused")

    monkeypatch.setattr(teachers, "train_teacher", no_training)
    second = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=store)
    assert torch.equal(first.W, second.W)
    prov = store.provenance(teacher_settings(data, task="toy", width=16, pgd=PGD, seed=3))
    assert {"git_commit", "torch_version", "device", "date", "wall_time_s"} <= set(prov)


@pytest.mark.parametrize(
    "change",
    [
        dict(width=18), dict(seed=4), dict(pgd=PGDConfig(lr=4.0, epochs=3, batch_size=32)),
        dict(pgd=PGDConfig(lr=8.0, epochs=3, batch_size=16)), dict(pgd=PGDConfig(lr=8.0, epochs=4, batch_size=32)),
        dict(pgd=PGDConfig(lr=8.0, epochs=3, batch_size=32, B=2.0)), dict(pgd=PGDConfig(lr=8.0, epochs=3, batch_size=32, order_seed=1)),
        dict(train_outer=True), dict(task="other"),
    ],
)
def test_every_setting_is_in_the_key(change):
    base = dict(task="toy", width=16, pgd=PGD, seed=3, train_outer=False)
    assert teacher_key(teacher_settings(_toy(), **{**base, **change})) != teacher_key(teacher_settings(_toy(), **base))


def test_other_data_gets_another_key():
    kw = dict(task="toy", width=16, pgd=PGD, seed=3)
    assert teacher_key(teacher_settings(_toy(seed=1), **kw)) != teacher_key(teacher_settings(_toy(seed=0), **kw))
    other = _toy()
    other.x[0, 0] += 1e-6
    assert teacher_key(teacher_settings(other, **kw)) != teacher_key(teacher_settings(_toy(), **kw))


def test_trained_outer_weights_are_stored(tmp_path):
    data, store = _toy(), _store(tmp_path)
    net = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, train_outer=True, store=store)
    assert not torch.equal(net.a, net.a0)
    again = store.load(teacher_settings(data, task="toy", width=16, pgd=PGD, seed=3, train_outer=True))
    assert torch.equal(again.a, net.a) and torch.equal(again.W, net.W)


def _saved(tmp_path):
    data, store = _toy(), _store(tmp_path)
    load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=store)
    settings = teacher_settings(data, task="toy", width=16, pgd=PGD, seed=3)
    return store, settings, store.path(settings)


def test_a_truncated_file_is_a_clear_error(tmp_path):
    store, settings, path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TeacherStoreError, match=f"{path.name}.*cannot be read.*Delete it"):
        store.load(settings)


def test_corrupted_weights_fail_their_checksum(tmp_path):
    store, settings, path = _saved(tmp_path)
    rec = torch.load(path, weights_only=True)
    rec["W"][0, 0] += 1.0
    torch.save(rec, path)
    with pytest.raises(TeacherStoreError, match="checksum"):
        store.load(settings)


def test_a_file_under_another_name_is_an_error(tmp_path):
    store, settings, path = _saved(tmp_path)
    other = teacher_settings(_toy(), task="toy", width=16, pgd=PGD, seed=9)
    path.rename(store.path(other))
    with pytest.raises(TeacherStoreError, match="hash"):
        store.load(other)


def test_a_changed_initialisation_is_detected(tmp_path):
    store, settings, path = _saved(tmp_path)
    rec = torch.load(path, weights_only=True)
    rec["W0_sha256"] = "0" * 64
    torch.save(rec, path)
    with pytest.raises(TeacherStoreError, match="initialisation"):
        store.load(settings)


def test_the_store_follows_the_results_root(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "elsewhere"))
    store = TeacherStore()
    assert store.root == tmp_path / "elsewhere" / "teachers"
    assert store.fallbacks == [teachers.repository_root()]


def test_a_fallback_folder_is_read_but_not_written(tmp_path, monkeypatch):
    data = _toy()
    committed = _store(tmp_path / "committed")
    net = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=committed)
    scratch = TeacherStore(tmp_path / "scratch", fallbacks=[committed.root])
    monkeypatch.setattr(teachers, "train_teacher", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = load_or_train_teacher(data, task="toy", width=16, pgd=PGD, seed=3, store=scratch)
    assert torch.equal(again.W, net.W) and not (tmp_path / "scratch").exists()


def test_table1_trains_its_teacher_once_and_stores_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path))
    monkeypatch.setattr(table1, "_TEACHERS", {})
    cfg = table1.Config(dataset="reduced", teacher_width=8, teacher_epochs=2, teacher_lr=4.0, batch_size=32)
    data = _toy()
    first = table1.trained_teacher(cfg, data)
    assert len(list((tmp_path / "teachers").glob("*.pt"))) == 1
    table1._TEACHERS.clear()  # as in a new process
    monkeypatch.setattr(teachers, "train_teacher", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    second = table1.trained_teacher(cfg, data)
    assert torch.equal(first.W, second.W)
