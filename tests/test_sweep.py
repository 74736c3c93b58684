"""kdlib.sweep on Dask distributed: results independent of the executor, and the faults.

Every fault test runs on a LocalCluster of 2 worker processes: the module's shared
cluster (``cluster``, reached by its address, as a remote one would be), or one that
``run_sweep(executor="local", workers=2)`` starts itself (in the subprocess whose
client is killed, with its cluster). The experiment is the deterministic toy of ``tests/sweep_toy.py``;
workers import it because they inherit this process's ``sys.path`` (subprocesses get it
through ``PYTHONPATH``).
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sweep_toy
from kdlib.results import ResultStore, config_key
from kdlib.sweep import SweepError, main, parse_value, product_configs, run_sweep, run_sweeps, split_values

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
UNREACHABLE = "tcp://127.0.0.1:9"  # nothing listens there: any attempt to use it fails


@pytest.fixture(autouse=True)
def _no_remote_scheduler(monkeypatch):
    monkeypatch.delenv("KDLIB_DASK_SCHEDULER", raising=False)


@pytest.fixture(scope="module", autouse=True)
def _scratch_results(tmp_path_factory):
    """A scratch default store for this module and the workers it starts, so that what an
    experiment stores beside its record (Table 1's teachers) never lands in ``results/``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDLIB_RESULTS", str(tmp_path_factory.mktemp("default-store")))
        yield


@pytest.fixture(scope="module")
def cluster(_scratch_results):
    """The LocalCluster of 2 that ``executor="local", workers=2`` starts, shared by the tests
    of this module through its address (one start-up instead of one per test)."""
    from kdlib.sweep import local_cluster

    with local_cluster(2) as c:
        yield c.scheduler_address


def toy_configs(xs, marker_dir, **kw):
    return [sweep_toy.Config(x=x, marker_dir=str(marker_dir), **kw) for x in xs]


def calls(marker_dir: Path) -> list[int]:
    """The x of every toy run so far (one marker file per call)."""
    return sorted(int(p.name.split("-")[1]) for p in Path(marker_dir).glob("call-*"))


def store_files(store: ResultStore) -> tuple[list[Path], list[Path]]:
    """(record files, every other file) under the toy's folder."""
    folder = store.root / sweep_toy.NAME
    files = sorted(p for p in folder.iterdir()) if folder.exists() else []
    return [p for p in files if p.suffix == ".json" and not p.name.startswith(".")], [
        p for p in files if not (p.suffix == ".json" and not p.name.startswith("."))]


def expected_rows(x: int, scale: float = 1.0) -> list[dict]:
    """The toy's rows by hand."""
    return [{"x": x, "i": i, "square": x * x + i, "scaled": scale * x / 8} for i in range(3)]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("KDLIB_DASK_SCHEDULER", None)
    return env


SWEEP_SCRIPT = """
import sys
import sweep_toy
from kdlib.results import ResultStore
from kdlib.sweep import run_sweep
store, marker, xs, sleep = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")], float(sys.argv[4])
executor = sys.argv[5]
configs = [sweep_toy.Config(x=x, sleep_s=sleep, marker_dir=marker) for x in xs]
recs = run_sweep(sweep_toy, configs, executor=executor, workers=2, store=ResultStore(store), progress=False)
assert [r["rows"][0]["x"] for r in recs] == xs
print("done", len(recs))
"""


def start_sweep(store: Path, marker: Path, xs, sleep: float, executor: str = "local") -> subprocess.Popen:
    """``run_sweep`` of the toy over ``xs`` in a new process (``local``: with its own LocalCluster of 2)."""
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_SCRIPT, str(store), str(marker), ",".join(map(str, xs)), str(sleep), executor],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: the client and its cluster's workers
    )


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


# --------------------------------------------------------------------------- equal results


def test_local_sweep_of_six_configs_equals_the_serial_records(tmp_path):
    configs = [sweep_toy.Config(x=x, scale=s) for x in range(3) for s in (1.0, 0.5)]
    serial = run_sweep(sweep_toy, configs, executor="serial", store=ResultStore(tmp_path / "serial"), progress=False)
    local = run_sweep(sweep_toy, configs, executor="local", workers=2, store=ResultStore(tmp_path / "local"), progress=False)
    assert len(local) == len(configs) == 6
    for cfg, a, b in zip(configs, serial, local):
        assert b["rows"] == a["rows"] == expected_rows(cfg.x, cfg.scale)
        assert (b["key"], b["config"], b["experiment"]) == (a["key"], a["config"], a["experiment"])
        assert set(b["provenance"]) == set(a["provenance"])  # the same record form either way
        # computed in a worker pinned to one thread; the wall time is the task's own
        assert b["provenance"]["device"].endswith(" 1 thread)")
        assert 0 <= b["provenance"]["wall_time_s"] < 60
        assert ResultStore.read(ResultStore(tmp_path / "local").path(sweep_toy.NAME, cfg)) == b


def serial_and_remote(experiment, cfg, tmp_path: Path, cluster: str) -> tuple[dict, dict]:
    """The record of ``cfg`` computed here serially (torch on one thread, as in the workers)
    and on the shared cluster, each into a store of its own."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        [serial] = run_sweep(experiment, [cfg], executor="serial", store=ResultStore(tmp_path / "s"), progress=False)
    finally:
        torch.set_num_threads(threads)
    [remote] = run_sweep(experiment, [cfg], executor=cluster, store=ResultStore(tmp_path / "c"), progress=False)
    assert remote["key"] == serial["key"] and remote["config"] == serial["config"]
    assert serial["provenance"]["device"].endswith(" 1 thread)") and remote["provenance"]["device"].endswith(" 1 thread)")
    return serial, remote


def assert_same_rows(a_rows: list[dict], b_rows: list[dict], rel_tol: float) -> None:
    assert len(a_rows) == len(b_rows) > 0
    for a, b in zip(a_rows, b_rows):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float):
                assert math.isclose(a[k], b[k], rel_tol=rel_tol, abs_tol=1e-9), (k, a[k], b[k])
            else:
                assert a[k] == b[k], k


def test_tiny_table1_record_is_the_same_serially_and_on_the_cluster(tmp_path, cluster, mnist_raw, monkeypatch):
    from kdlib.experiments import table1

    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "here"))  # the serial run trains its own teacher
    cfg = table1.Config(dataset="reduced", widths=(2,), seeds=1, epochs=1, teacher_epochs=1, teacher_width=8, device="cpu")
    serial, remote = serial_and_remote(table1, cfg, tmp_path, cluster)
    # 1 teacher + 2 labels x 1 width x 1 seed; accuracies (rounded to 1e-4 %) and losses (1e-6)
    assert [(r["model"], r["mode"]) for r in serial["rows"]] == [("teacher", "hard"), ("student", "hard"), ("student", "soft")]
    assert_same_rows(serial["rows"], remote["rows"], rel_tol=1e-6)


def test_small_margin_record_is_the_same_serially_and_on_the_cluster(tmp_path, cluster, mnist_raw):
    from kdlib.experiments import margin

    cfg = margin.Config(task="reduced", n=40, n_z=512, n_eval=1024, steps=30)
    serial, remote = serial_and_remote(margin, cfg, tmp_path, cluster)
    row = serial["rows"][0]
    assert row["n"] == 40 and 0 < row["ci_lo"] <= row["gamma"] <= row["ci_hi"]
    # float64 solver, same thread count, same draws: equal to rounding
    assert_same_rows(serial["rows"], remote["rows"], rel_tol=1e-9)


def test_stored_configs_are_read_and_no_cluster_is_started(tmp_path):
    store = ResultStore(tmp_path / "store")
    configs = toy_configs(range(4), tmp_path / "m")
    first = run_sweep(sweep_toy, configs, executor="serial", store=store, progress=False)
    assert calls(tmp_path / "m") == [0, 1, 2, 3]
    # every config is held: the unreachable scheduler is never contacted, nothing runs again
    again = run_sweep(sweep_toy, configs[::-1] + configs[:1], executor=UNREACHABLE, store=store, progress=False)
    assert again == first[::-1] + first[:1]
    assert calls(tmp_path / "m") == [0, 1, 2, 3]


# --------------------------------------------------------------------------- faults


def test_a_bad_config_fails_fast_before_anything_is_submitted(tmp_path):
    store = ResultStore(tmp_path / "store")
    good = toy_configs([1, 2], tmp_path / "m")
    with pytest.raises(ValueError, match=r"x must be a non-negative integer, got -1"):
        run_sweep(sweep_toy, good + [{"x": -1, "marker_dir": str(tmp_path / "m")}], executor=UNREACHABLE, store=store)
    # a Config altered after construction is checked again, too
    bad = sweep_toy.Config(x=3)
    object.__setattr__(bad, "x", "three")
    with pytest.raises(ValueError, match=r"x must be a non-negative integer, got 'three'"):
        run_sweep(sweep_toy, good + [bad], executor=UNREACHABLE, store=store)
    with pytest.raises(TypeError, match="must be a Config or a mapping"):
        run_sweep(sweep_toy, [("x", 1)], executor=UNREACHABLE, store=store)
    assert calls(tmp_path / "m") == [] and store_files(store) == ([], [])


def test_a_task_that_raises_in_a_worker_names_its_config_and_the_others_are_stored(tmp_path, cluster):
    store = ResultStore(tmp_path / "store")
    configs = toy_configs([0, 1, 2, 3], tmp_path / "m") + [sweep_toy.Config(x=7, fail=True)]
    with pytest.raises(SweepError) as info:
        run_sweep(sweep_toy, configs, executor=cluster, store=store, progress=False)
    msg = str(info.value)
    assert "1 of 5 sweep_toy configs failed" in msg
    assert "toy failure at x=7" in msg and "fail=True" in msg
    [(cfg, exc)] = info.value.failures
    assert cfg == configs[-1] and "toy failure at x=7" in str(exc)
    for cfg in configs[:4]:
        assert store.load(sweep_toy.NAME, cfg)["rows"] == expected_rows(cfg.x)
    assert store.load(sweep_toy.NAME, configs[-1]) is None
    assert calls(tmp_path / "m") == [0, 1, 2, 3]  # not retried: it would raise again


def test_a_worker_killed_mid_task_the_sweep_completes_and_the_store_is_whole(tmp_path, cluster):
    store = ResultStore(tmp_path / "store")
    marker = tmp_path / "m"
    configs = toy_configs(range(6), marker, sleep_s=1.0)
    killed: list[int] = []

    def kill_the_worker_running_x2() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            start = marker / "start-2"
            if start.exists():
                pid = int(start.read_text())
                os.kill(pid, signal.SIGKILL)  # mid-task: it sleeps for 1 s after writing this
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker_running_x2, daemon=True)
    killer.start()
    recs = run_sweep(sweep_toy, configs, executor=cluster, store=store, progress=False)
    killer.join(timeout=5)
    assert killed, "the toy never started config x=2"
    assert calls(marker).count(2) >= 2  # x=2 ran again after its worker died
    assert [r["rows"] for r in recs] == [expected_rows(x) for x in range(6)]
    records, others = store_files(store)
    assert others == [] and len(records) == 6  # no temporary or partial file
    for p in records:
        ResultStore.read(p)
    assert sorted(p.stem for p in records) == sorted(config_key(sweep_toy.NAME, c) for c in configs)


def test_the_client_killed_mid_sweep_the_rerun_computes_only_the_missing_configs(tmp_path, cluster):
    store = ResultStore(tmp_path / "store")
    marker = tmp_path / "m"
    xs = list(range(6))
    proc = start_sweep(tmp_path / "store", marker, xs, sleep=1.5)
    try:
        deadline = time.monotonic() + 150
        while not store_files(store)[0]:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no record appeared"
            time.sleep(0.02)
    finally:
        kill_group(proc)  # the client, its scheduler and its workers, at once
    records, _ = store_files(store)
    held = sorted(ResultStore.read(p)["rows"][0]["x"] for p in records)  # each one verifies
    assert 1 <= len(held) < len(xs)
    for p in marker.glob("call-*"):
        p.unlink()
    configs = toy_configs(xs, marker, sleep_s=1.5)
    recs = run_sweep(sweep_toy, configs, executor=cluster, store=store, progress=False)
    assert calls(marker) == sorted(set(xs) - set(held))
    assert [r["rows"] for r in recs] == [expected_rows(x) for x in xs]


def test_two_overlapping_sweeps_at_once_store_each_config_once_and_whole(tmp_path, cluster):
    # two client processes (two notebooks, say) on one cluster, writing overlapping records at once
    store = ResultStore(tmp_path / "store")
    marker = tmp_path / "m"
    a, b = [0, 1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]
    procs = [start_sweep(tmp_path / "store", marker, xs, sleep=0.3, executor=cluster) for xs in (a, b)]
    try:
        outs = [p.communicate(timeout=170)[0] for p in procs]
    finally:
        for p in procs:
            kill_group(p)
    assert [p.returncode for p in procs] == [0, 0], outs
    records, others = store_files(store)
    assert others == []
    union = sorted(set(a) | set(b))
    assert sorted(p.stem for p in records) == sorted(config_key(sweep_toy.NAME, c) for c in toy_configs(union, marker, sleep_s=0.3))
    for p in records:
        rec = ResultStore.read(p)
        assert rec["rows"] == expected_rows(rec["config"]["x"])
    assert set(calls(marker)) == set(union)


def test_run_sweeps_returns_each_group_in_order_and_computes_a_shared_config_once(tmp_path):
    store = ResultStore(tmp_path / "store")
    marker = tmp_path / "m"
    a, b, c = toy_configs([2, 0], marker), toy_configs([1, 2], marker), []
    ra, rb, rc = run_sweeps(sweep_toy, [a, b, c], executor="serial", store=store, progress=False)
    assert [r["rows"] for r in ra] == [expected_rows(2), expected_rows(0)]
    assert [r["rows"] for r in rb] == [expected_rows(1), expected_rows(2)]
    assert rc == [] and ra[0] == rb[1]
    assert calls(marker) == [0, 1, 2]  # x=2, in both groups, ran once


def test_a_cost_hint_starts_the_longest_configs_first_and_keeps_the_order_of_the_records(tmp_path, cluster):
    marker = tmp_path / "serial"
    xs = [1, 4, 0, 3, 2, 5]
    recs = run_sweep(sweep_toy.HINTED, toy_configs(xs, marker), executor="serial",
                     store=ResultStore(tmp_path / "s1"), progress=False)
    assert [r["rows"] for r in recs] == [expected_rows(x) for x in xs]
    order = sorted(Path(marker).glob("call-*"), key=lambda p: int(p.name.split("-")[3]))
    assert [int(p.name.split("-")[1]) for p in order] == sorted(xs, reverse=True)
    # on the cluster of two workers, each task 0.4 s: the two largest start first, the two smallest last
    marker = tmp_path / "cluster"
    recs = run_sweep(sweep_toy.HINTED, toy_configs(xs, marker, sleep_s=0.4), executor=cluster,
                     store=ResultStore(tmp_path / "s2"), progress=False)
    assert [r["rows"] for r in recs] == [expected_rows(x) for x in xs]
    started = sorted(xs, key=lambda x: (Path(marker) / f"start-{x}").stat().st_mtime_ns)
    assert set(started[:2]) == {5, 4} and set(started[-2:]) == {1, 0}


def _malloc_trim() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_workers_keep_glibc_defaults_for_freed_memory(cluster):
    """Dask's own default (MALLOC_TRIM_THRESHOLD_=65536) is not passed to our workers, also for a
    second cluster started by the same process (the first one's nanny put it into os.environ)."""
    import kdlib.sweep
    from dask.distributed import Client

    if kdlib.sweep._USER_MALLOC_TRIM is not None:
        pytest.skip("MALLOC_TRIM_THRESHOLD_ was set by the user: the workers keep it")
    with Client(cluster, set_as_default=False) as client:
        assert set(client.run(_malloc_trim).values()) == {None}


def test_local_cluster_refuses_a_bad_size():
    from kdlib.sweep import local_cluster

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            local_cluster(bad)


def test_experiments_travel_as_import_paths():
    from types import SimpleNamespace

    from kdlib.experiments import margin_teacher, table1
    from kdlib.sweep import experiment_ref, import_experiment

    assert experiment_ref(table1) == ("kdlib.experiments.table1", None)
    assert experiment_ref(margin_teacher) == ("kdlib.experiments.margin_teacher", None)
    assert import_experiment(experiment_ref(margin_teacher)) is margin_teacher
    # an object defined at the top of a module travels as the module and its attribute
    assert import_experiment(experiment_ref(sweep_toy.HINTED)) is sweep_toy.HINTED
    assert import_experiment(experiment_ref(sweep_toy)) is sweep_toy
    adhoc = SimpleNamespace(NAME="adhoc", Config=sweep_toy.Config, run=sweep_toy.run)
    with pytest.raises(TypeError, match="a worker cannot import it"):
        experiment_ref(adhoc)
    with pytest.raises(TypeError, match="lacks Config"):
        experiment_ref(SimpleNamespace(NAME="x", run=sweep_toy.run))


# --------------------------------------------------------------------------- command line


def test_values_split_at_top_level_commas_and_parse_as_literals():
    assert split_values("16,64") == ["16", "64"]
    assert split_values("[4,6],[2]") == ["[4,6]", "[2]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert [parse_value(v) for v in split_values("16,64.5,full,[4,6],inf,True")] == [16, 64.5, "full", (4, 6), math.inf, True]


def test_the_product_of_settings_over_the_default_config():
    configs = product_configs(sweep_toy, [("x", [1, 2]), ("scale", [0.5, 2.0, 3.0])])
    assert configs == [sweep_toy.Config(x=x, scale=s) for x in (1, 2) for s in (0.5, 2.0, 3.0)]
    with pytest.raises(ValueError, match="sweep_toy has no config field 'y'; its fields are: x, scale"):
        product_configs(sweep_toy, [("y", [1])])


def test_the_command_line_runs_the_product_and_prints_where_the_records_went(tmp_path, monkeypatch, capsys):
    import kdlib.regenerate
    import kdlib.registry

    known = kdlib.registry.experiment_modules()
    monkeypatch.setattr(kdlib.registry, "experiment_modules", lambda: {**known, sweep_toy.NAME: sweep_toy})
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path))
    marker = tmp_path / "m"
    argv = ["sweep_toy", "--set", "x=1,2", "--set", "scale=0.5,2", "--set", f"marker_dir='{marker}'", "--no-progress"]
    assert main(argv + ["--executor", "serial"]) == 0
    out = capsys.readouterr().out
    configs = [sweep_toy.Config(x=x, scale=s, marker_dir=str(marker)) for x in (1, 2) for s in (0.5, 2.0)]
    store = ResultStore(tmp_path)
    assert "sweep_toy: 4 configs, 0 already stored, executor serial" in out
    for cfg in configs:
        assert str(store.path(sweep_toy.NAME, cfg)) in out
        assert store.load(sweep_toy.NAME, cfg)["rows"] == expected_rows(cfg.x, cfg.scale)
    # again, through a scheduler that does not exist: all are stored, so none is contacted
    assert main(argv + ["--executor", UNREACHABLE]) == 0
    assert "4 configs, 4 already stored" in capsys.readouterr().out
    assert calls(marker) == [1, 1, 2, 2]


def test_the_command_line_says_what_is_wrong(capsys):
    from kdlib.experiments import table1

    assert product_configs(table1, [("widths", [parse_value("[2,4]")]), ("lr", [16])]) == [table1.Config(widths=(2, 4), lr=16.0)]
    for argv, message in [
        (["nosuch"], "unknown experiment 'nosuch'; known:"),
        (["table1", "--set", "dataset=mnist"], "dataset must be one of"),
        (["table1", "--set", "width=4"], "table1 has no config field 'width'"),
        (["table1", "--set", "lr"], "--set wants FIELD=VALUE"),
        (["table1", "--executor", "cloud"], "executor must be 'serial', 'local' or a scheduler address"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err, argv


def test_make_results_recomputes_the_stored_records_through_run_sweep(tmp_path, monkeypatch):
    import kdlib.regenerate
    import kdlib.registry

    known = kdlib.registry.experiment_modules()
    monkeypatch.setattr(kdlib.registry, "experiment_modules", lambda: {**known, sweep_toy.NAME: sweep_toy})
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path))
    store = ResultStore(tmp_path)
    configs = toy_configs([4, 5], tmp_path / "m")
    old = run_sweep(sweep_toy, configs, executor="serial", store=store, progress=False)
    assert kdlib.regenerate.main(["--executor", "serial", sweep_toy.NAME]) == 0
    assert calls(tmp_path / "m") == [4, 4, 5, 5]
    new = [store.load(sweep_toy.NAME, c) for c in configs]
    assert [r["rows"] for r in new] == [r["rows"] for r in old]
    assert all(n["provenance"]["date"] >= o["provenance"]["date"] for n, o in zip(new, old))


def test_a_namespace_experiment_names_its_module():
    """An experiment may be an object at the top of a module, not only a module: a worker imports it
    from the module the object names as ``__module__`` (here its run, a partial, names none)."""
    from kdlib.sweep import experiment_ref, import_experiment

    ref = experiment_ref(sweep_toy.AS_OBJECT)
    assert ref == (sweep_toy.__name__, "AS_OBJECT")
    assert import_experiment(ref) is sweep_toy.AS_OBJECT
