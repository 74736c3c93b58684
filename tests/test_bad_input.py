"""Bad input, as a new user gives it, is refused before any work with one clear line.

Each case gives one bad value through one door: a chapter's parameters as papermill's command
line parses them (``-p NAME VALUE``), the command lines ``python -m kdlib sweep``,
``regenerate`` and ``verify``, the environment variables ``KDLIB_RESULTS``,
``KDLIB_DASK_SCHEDULER`` and ``KDLIB_DATA``, and records edited or truncated
by hand. Each asserts: the message is one line and names the bad value; the error is raised
by kdlib (or the chapter's own cell), with no exception of a dependency chained to it; and
nothing is written to the results store (a temporary ``KDLIB_RESULTS``).

At the end, the defects of issue 23 that are not bad input (list parameters through ``-p``,
the progress bars, the kernel's warning, the width curve's error bars) each have a test.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
import traceback
import types
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from kdlib import results as R

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from chapter_cells import papermill_parameters, run_config_cell  # noqa: E402

SITE = ("site-packages", "dist-packages", f"{os.sep}lib{os.sep}python3")


def store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty results store in ``KDLIB_RESULTS``; the test fails if anything is written in it."""
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv(R.RESULTS_ENV, str(root))
    monkeypatch.delenv("KDLIB_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("KDLIB_EXECUTOR", raising=False)
    yield root
    assert store_files(root) == [], "something was written to the results store"


def assert_clear(exc: BaseException, *needles: str) -> None:
    """One line naming every needle; raised by kdlib or a chapter cell, no dependency's
    exception chained to it (which a notebook would print as a second, deep traceback)."""
    msg = str(exc)
    assert "\n" not in msg.strip(), f"not one line: {msg!r}"
    for needle in needles:
        assert needle in msg, f"{needle!r} not named in {msg!r}"
    chain, e = [], exc
    while e is not None:
        chain.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    for e in chain:
        frames = traceback.extract_tb(e.__traceback__)
        assert frames, e
        last = frames[-1].filename
        assert not any(s in last for s in SITE), f"{type(e).__name__} raised inside a dependency ({last}): {e}"


# --------------------------------------------------------------------------- chapters via papermill -p
CHAPTER_CASES = [
    # (chapter, {-p NAME: VALUE}, what the message must name)
    ("01_motivation", {"widths": "[4, 5]"}, ["m=5"]),
    ("01_motivation", {"widths": "[4, 6"}, ["widths", "'[4, 6'"]),
    ("01_motivation", {"widths": "{a: 1}"}, ["widths", "{a: 1}"]),
    ("01_motivation", {"dataset": "fulll"}, ["dataset", "'fulll'"]),
    ("01_motivation", {"seeds": "-1"}, ["seeds", "-1"]),
    ("01_motivation", {"lr": "fast"}, ["lr", "'fast'"]),
    ("01_motivation", {"device": "gpu0"}, ["device", "'gpu0'", "cuda:N"]),
    ("01_motivation", {"scaling": "unit2"}, ["scaling", "'unit2'"]),
    ("01_motivation", {"temperature": "0"}, ["temperature", "0"]),
    ("02_kernel", {"tasks": "[fulll]"}, ["task", "'fulll'"]),
    ("02_kernel", {"widths": "[16, 63]"}, ["m=63"]),
    ("02_kernel", {"widths": "[16, 64"}, ["widths", "'[16, 64'"]),
    ("02_kernel", {"n_conv": "1"}, ["n_conv", "1"]),
    ("02_kernel", {"ridge": "-1"}, ["ridge", "-1"]),
    ("03_margin", {"sizes": "[500, 1]"}, ["n", "got 1"]),
    ("03_margin", {"tasks": "[full, half]"}, ["task", "'half'"]),
    ("03_margin", {"noise_variances": "[-0.1]"}, ["variance", "-0.1"]),
    ("03_margin", {"sizes": "[500"}, ["sizes", "'[500'"]),
    ("03_margin", {"n_z": "0"}, ["n_z", "0"]),
    ("04_soft_labels", {"widths": "[16, 17]"}, ["m=17"]),
    ("04_soft_labels", {"seeds": "[]"}, ["seeds"]),
    ("04_soft_labels", {"seeds": "0"}, ["seeds", "got 0"]),
    ("04_soft_labels", {"tasks": "[x]"}, ["task", "'x'"]),
    ("04_soft_labels", {"beta": "2"}, ["beta", "2"]),
    ("04_soft_labels", {"lemma6_widths": "[3]"}, ["m=3"]),
    ("05_hard_labels", {"widths": "[16, 64"}, ["widths", "'[16, 64'"]),
    ("05_hard_labels", {"practice_width": "5"}, ["practice_width", "5"]),
    ("06_neuron_scaling", {"widths": "[4, 2]"}, ["increasing", "(4, 2)"]),
    ("06_neuron_scaling", {"eps": "[0.5, 1.5]"}, ["eps", "1.5"]),
    ("06_neuron_scaling", {"regimes": "[theory, magic]"}, ["regime", "'magic'"]),
    ("06_neuron_scaling", {"pairs": "[[0, 0]]"}, ["digit", "(0, 0)"]),
    ("06_neuron_scaling", {"seeds": "[0, 0]"}, ["seed", "(0, 0)"]),
    ("06_neuron_scaling", {"device": "gpu0"}, ["device", "'gpu0'"]),
    ("06_neuron_scaling", {"floor_thresholds": "[0.004"}, ["floor_thresholds", "'[0.004'"]),
    ("07_deep_networks", {"noise_variances": "[0.1, -1]"}, ["variance", "-1"]),
    ("07_deep_networks", {"t4_variances": "[oops"}, ["t4_variances", "'[oops'"]),
    ("07_deep_networks", {"device": "gpu0"}, ["device", "'gpu0'"]),
    ("07_deep_networks", {"runs": "0"}, ["runs", "0"]),
]


@pytest.mark.parametrize("chapter, params, needles", CHAPTER_CASES,
                         ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for c, p, _ in CHAPTER_CASES])
def test_a_chapter_refuses_a_bad_parameter_before_any_work(store, chapter, params, needles):
    with pytest.raises((ValueError, TypeError)) as info:
        run_config_cell(chapter, papermill_parameters(p=params))
    assert_clear(info.value, *needles)


# --------------------------------------------------------------------------- command lines
def run_main(main, argv):
    """``main(argv)`` in this process: (exit status, stdout, stderr); argparse's exit included."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _sweep_main(argv):
    from kdlib.sweep import main

    return main(argv)


def _regenerate_main(argv):
    from kdlib.regenerate import main

    return main(argv)


CLI_CASES = [
    (_sweep_main, ["tabel1"], ["'tabel1'"]),
    (_sweep_main, ["table1", "--set", "widths=[4,5]"], ["m=5"]),
    (_sweep_main, ["table1", "--set", "nosuch=1"], ["'nosuch'"]),
    (_sweep_main, ["table1", "--set", "lr"], ["'lr'"]),
    (_sweep_main, ["table1", "--set", "device=gpu0"], ["'gpu0'", "cuda:N"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--workers", "0"], ["workers", "got 0"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--workers", "-3"], ["workers", "got -3"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--workers", "two"], ["'two'"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--executor", "garbage"], ["'garbage'"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--executor", "tcp://host"], ["'tcp://host'", "the executor parameter"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--executor", "tcp://127.0.0.1:1"],
     ["tcp://127.0.0.1:1", "the executor parameter", "dask scheduler"]),
    (_sweep_main, ["table1", "--set", "seeds=1", "--executor", "threads"], ["'threads'"]),
    (_regenerate_main, ["nosuch"], ["nosuch"]),
    (_regenerate_main, ["--executor", "threads", "table1"], ["'threads'"]),
]


@pytest.mark.parametrize("main, argv, needles", CLI_CASES,
                         ids=[f"{m.__name__.strip('_')}-{' '.join(a)}" for m, a, _ in CLI_CASES])
def test_a_command_line_says_what_is_wrong_in_one_line(store, main, argv, needles):
    code, out, err = run_main(main, argv)
    assert code not in (0, None)
    assert "Traceback" not in out + err
    last = err.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"


def test_verify_of_a_folder_that_is_no_store(store, tmp_path):
    from kdlib.__main__ import main

    code, out, err = run_main(main, ["verify", "--root", str(tmp_path / "nowhere")])
    assert code == 1 and "Traceback" not in out + err
    assert str(tmp_path / "nowhere") in err.strip().splitlines()[-1]


# --------------------------------------------------------------------------- environment variables
def _toy_sweep(executor="serial", **kw):
    import sweep_toy

    from kdlib.sweep import run_sweep

    return run_sweep(sweep_toy, [sweep_toy.Config(x=1), sweep_toy.Config(x=2)], executor=executor, progress=False, **kw)


def test_results_folder_that_is_a_file(store, tmp_path, monkeypatch):
    f = tmp_path / "a-file"
    f.write_text("not a folder\n")
    monkeypatch.setenv(R.RESULTS_ENV, str(f))
    with pytest.raises(ValueError) as info:
        _toy_sweep()
    assert_clear(info.value, "KDLIB_RESULTS", str(f), "is a file")
    assert f.read_text() == "not a folder\n"


def test_results_folder_below_a_file(store, tmp_path, monkeypatch):
    f = tmp_path / "a-file"
    f.write_text("")
    monkeypatch.setenv(R.RESULTS_ENV, str(f / "results"))
    with pytest.raises(ValueError) as info:
        _toy_sweep()
    assert_clear(info.value, "KDLIB_RESULTS", str(f / "results"), "cannot be created")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc, a folder nobody can write in")
def test_results_folder_that_cannot_be_created(store, monkeypatch):
    monkeypatch.setenv(R.RESULTS_ENV, "/proc/kdlib-results")
    with pytest.raises(ValueError) as info:
        _toy_sweep()
    assert_clear(info.value, "KDLIB_RESULTS", "/proc/kdlib-results", "cannot be created")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_results_folder_that_is_read_only(store, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv(R.RESULTS_ENV, str(ro))
    try:
        with pytest.raises(ValueError) as info:
            _toy_sweep()
        assert_clear(info.value, "KDLIB_RESULTS", str(ro))
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("value, needles", [
    ("garbage", ["$KDLIB_DASK_SCHEDULER", "'garbage'", "dask scheduler"]),
    ("tcp://host", ["$KDLIB_DASK_SCHEDULER", "'tcp://host'"]),
    ("tcp://127.0.0.1:1", ["$KDLIB_DASK_SCHEDULER", "tcp://127.0.0.1:1", "dask scheduler"]),
])
def test_scheduler_variable_is_refused_naming_it(store, monkeypatch, value, needles):
    import time

    monkeypatch.setenv("KDLIB_DASK_SCHEDULER", value)
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        _toy_sweep(executor="local")
    assert time.perf_counter() - t0 < 15
    assert_clear(info.value, *needles)


def test_scheduler_variable_in_regenerate(store, monkeypatch):
    monkeypatch.setenv("KDLIB_DASK_SCHEDULER", "garbage")
    code, out, err = run_main(_regenerate_main, ["table1"])
    assert code == 2 and "Traceback" not in out + err
    assert "$KDLIB_DASK_SCHEDULER = 'garbage'" in err.strip().splitlines()[-1]


def test_cuda_without_a_gpu_is_refused_before_computing_but_auto_is_not(store):
    import torch

    from kdlib.experiments import table1
    from kdlib.sweep import run_sweep

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError) as info:
        run_sweep(table1, [table1.Config(seeds=1, device="cuda")], executor="serial", progress=False)
    assert_clear(info.value, "'cuda'", "CUDA is not available", "'auto'")
    from kdlib.validate import device

    assert device("device", "auto") == "auto"


def test_workers_zero_in_the_python_call(store):
    with pytest.raises(ValueError) as info:
        _toy_sweep(executor="local", workers=0)
    assert_clear(info.value, "workers", "got 0")


def test_an_empty_data_folder_stays_empty(store, tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    from kdlib import data as D

    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv(D.DATA_ENV, str(empty))
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:1/"])  # no download, at once
    D._load_mnist_cached.cache_clear()
    with pytest.raises(D.DataUnavailableError) as info:
        D.binary_mnist("full", train=False)
    D._load_mnist_cached.cache_clear()
    assert "KDLIB_DATA" in str(info.value) and str(empty) in str(info.value)
    assert list(empty.iterdir()) == []


# --------------------------------------------------------------------------- edited and truncated records
def _toy_record(root: Path):
    exp = types.SimpleNamespace(NAME="toy", run=lambda cfg: R.RunOutput(
        rows=[{"seed": s, "test_acc": 90.0 + s / 3} for s in range(4)], seeds=[0, 1, 2, 3], device="cpu"))
    store = R.ResultStore(root)
    R.load_or_run(exp, {"n": 4, "B": math.inf}, store=store)
    return store, store.path("toy", {"n": 4, "B": math.inf})


def _edit_json(edit):
    def apply(text: str) -> str:
        rec = json.loads(text)
        edit(rec)
        return json.dumps(rec, indent=1)
    return apply


RECORD_CASES = {
    "a number edited": (_edit_json(lambda r: r["rows"][0].__setitem__("test_acc", 89.18)), ["its rows", "regenerate toy"]),
    "a row deleted": (_edit_json(lambda r: r["rows"].pop(2)), ["its rows"]),
    "every row deleted": (_edit_json(lambda r: r["rows"].clear()), ["its rows"]),
    "a row field deleted": (_edit_json(lambda r: r["rows"][1].pop("test_acc")), ["its rows"]),
    "the seeds edited": (_edit_json(lambda r: r["provenance"].__setitem__("seeds", [0])), ["its provenance"]),
    "the device edited": (_edit_json(lambda r: r["config"].__setitem__("device", "cuda")), ["its config"]),
    "the config edited": (_edit_json(lambda r: r["config"].__setitem__("n", 5)), ["hashes to"]),
    "the digest deleted": (_edit_json(lambda r: r.pop("digest")), ["no digest", "--add-digests"]),
    "the digest replaced": (_edit_json(lambda r: r.__setitem__("digest", "0")), ["digest is not a mapping"]),
    "truncated in half": (lambda t: t[: len(t) // 2], ["cannot be read", "regenerate toy"]),
    "truncated to nothing": (lambda t: "", ["cannot be read"]),
    "not JSON": (lambda t: "\x00\x01binary", ["cannot be read"]),
    "a JSON list": (lambda t: "[1, 2]", ["lacks experiment"]),
    "rows replaced by text": (_edit_json(lambda r: r.__setitem__("rows", "none")), ["its rows"]),
}


@pytest.mark.parametrize("case", list(RECORD_CASES))
def test_an_edited_or_truncated_record_is_refused_and_left_as_it_is(tmp_path, case):
    edit, needles = RECORD_CASES[case]
    store, path = _toy_record(tmp_path)
    path.write_text(edit(path.read_text()))
    before = store_files(tmp_path), path.read_bytes()
    with pytest.raises(R.StoreError) as info:
        store.load("toy", {"n": 4, "B": math.inf})
    assert_clear(info.value, str(path), *needles)
    assert (store_files(tmp_path), path.read_bytes()) == before


def test_a_hand_edited_number_stops_chapter_1(tmp_path, monkeypatch):
    """The issue's example: one test_acc of a stored Table 1 record edited; Chapter 1, run with
    its defaults on a copy of the store, stops when it reads it, naming the file."""
    copy = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "table1", copy / "table1")
    monkeypatch.setenv(R.RESULTS_ENV, str(copy))
    victim = sorted((copy / "table1").glob("*.json"))[0]
    rec = json.loads(victim.read_text())
    rec["rows"][1]["test_acc"] = round(rec["rows"][1]["test_acc"] + 3.1, 4)
    victim.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    ns = run_config_cell("01_motivation", papermill_parameters(p={"executor": "serial"}))
    with pytest.raises(R.StoreError) as info:
        ns["run_sweeps"](ns["table1"], [ns["configs"], ns["curve_configs"], [c for _, c in ns["sweep"]]],
                         executor="serial", progress=False)
    assert_clear(info.value, str(victim), "its rows")


# --------------------------------------------------------------------------- the other defects of issue 23
LIST_CASES = [
    ("02_kernel", {"widths": "[16, 64]", "tasks": '["full"]'}, "configs", "widths", (16, 64)),
    ("03_margin", {"sizes": "[500]", "tasks": "[full]"}, "size_cfgs", "n", 500),
    ("04_soft_labels", {"widths": "[16, 64]", "tasks": "[full]"}, "configs", "widths", (16, 64)),
    ("05_hard_labels", {"lemma6_widths": "[64, 256]", "seeds": "[0, 3]"}, "configs", "seeds", (0, 3)),
    ("06_neuron_scaling", {"widths": "[2, 4]", "eps": "[0.05]", "regimes": "[practice]"}, "configs", "widths", (2, 4)),
    ("07_deep_networks", {"noise_variances": "[0.0, 0.1]"}, "configs", "noise_variance", 0.0),
]


@pytest.mark.parametrize("chapter, params, name, field, value", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_list_parameters_through_papermill_p_equal_the_yaml_form(store, chapter, params, name, field, value):
    as_p = run_config_cell(chapter, papermill_parameters(p=params))[name]
    as_y = run_config_cell(chapter, papermill_parameters(y="\n".join(f"{k}: {v}" for k, v in params.items())))[name]
    assert as_p == as_y and len(as_p) >= 1
    assert getattr(as_p[0], field) == value


def _barred_experiment():
    from tqdm import tqdm

    def run(cfg):
        for _ in tqdm(range(3), desc="epochs of an experiment", disable=False):
            pass
        return R.RunOutput(rows=[{"x": cfg["x"]}], seeds=[0], device="cpu")

    return run


def test_a_serial_sweep_draws_one_bar_to_100_percent_once(tmp_path, capsys):
    from kdlib.sweep import run_sweep

    exp = types.SimpleNamespace(NAME="barred", run=_barred_experiment(), Config=dict)
    run_sweep(exp, [{"x": i} for i in range(3)], executor="serial", store=R.ResultStore(tmp_path))
    err = capsys.readouterr().err
    assert err.count("100%") == 1 and "barred sweep" in err
    assert "epochs of an experiment" not in err  # the experiment's own bar is off inside a sweep
    run_sweep(exp, [{"x": i} for i in range(3, 5)], executor="serial", store=R.ResultStore(tmp_path), progress=False)
    assert capsys.readouterr().err == ""  # --no-progress: no bar at all


def test_a_worker_task_draws_no_bar(tmp_path, capfd):
    from kdlib import sweep as S

    exp = types.SimpleNamespace(NAME="barred", run=_barred_experiment(), Config=dict)
    mod = types.ModuleType("barred_mod")
    mod.EXP = exp
    sys.modules["barred_mod"] = mod
    try:
        S.compute_record(("barred_mod", "EXP"), {"x": 1})
    finally:
        del sys.modules["barred_mod"]
    assert "epochs of an experiment" not in capfd.readouterr().err


def test_the_kernel_config_filters_the_tcp_warning(tmp_path):
    """ipykernel started with the repository's kernel configuration (``make setup`` installs it
    into the environment; here through a profile folder) does not print the TCP warning."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    shutil.copy(ROOT / "etc" / "ipython" / "ipython_kernel_config.py", profile)
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    try:
        proc = subprocess.run([sys.executable, "-m", "ipykernel_launcher"], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=8)
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:  # a kernel waits for its client: stopped here
        out = (exc.stdout or b"").decode() + (exc.stderr or b"").decode()
    assert "To connect another client" in out  # it did start
    assert "without encryption" not in out


def test_width_curve_error_bars_stop_at_100_percent():
    from kdlib.plots import clipped_errors

    lower, upper = clipped_errors([99.0, 50.0, 0.5], [2.0, 3.0, 1.0])
    assert upper == [1.0, 3.0, 1.0] and lower == [2.0, 3.0, 0.5]
