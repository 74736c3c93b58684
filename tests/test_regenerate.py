"""Every stored record can be regenerated: its experiment is found, its config rebuilt, and
`make results` (python -m kdlib.regenerate) goes over every experiment in a safe order."""
from __future__ import annotations

import pytest

from kdlib.regenerate import main
from kdlib.registry import NOT_RECORDS, READS, config_from_record, experiment_modules, regeneration_order
from kdlib.results import ResultStore, config_key
from kdlib.sweep import experiment_ref, import_experiment, validate
from kdlib.teachers import FOLDER as TEACHERS


def _record_folders(store: ResultStore) -> list[str]:
    # results/teachers/ holds trained teachers (kdlib.teachers), not records
    return sorted(p.name for p in store.root.iterdir() if p.is_dir() and p.name != TEACHERS)


def test_every_stored_record_maps_back_to_its_experiment_and_config():
    store = ResultStore()
    experiments = experiment_modules()
    folders = _record_folders(store)
    assert folders, "the results store is empty"
    for name in folders:
        assert name in experiments, f"no experiment has NAME = {name!r}; `make results` could not regenerate it"
        # a worker of a sweep imports the experiment from its import path
        assert import_experiment(experiment_ref(experiments[name])) is experiments[name]
        for rec in store.records(name):
            cfg = config_from_record(experiments[name], rec)
            # the rebuilt config hashes to the record's own key, so a rerun overwrites this very file,
            # also after run_sweep validates it (rebuilds it through the experiment's Config)
            assert config_key(name, cfg) == rec["key"]
            # ... and is the file's own name, so the experiment finds the record where it is stored
            assert store.path(name, cfg).exists() and store.path(name, cfg).stem == rec["key"]
            assert config_key(name, validate(experiments[name], cfg)) == rec["key"]


def test_the_chapter_6_experiments_are_found():
    experiments = experiment_modules()
    from kdlib.experiments import margin_teacher, scaling, scaling_gamma

    assert experiments["scaling"] is scaling
    assert experiments["scaling_gamma"] is scaling_gamma
    assert experiments["margin_teacher"] is margin_teacher
    assert NOT_RECORDS == {TEACHERS}


def test_an_experiment_comes_after_the_ones_whose_records_it_reads():
    order = regeneration_order(["theory", "scaling", "table1", "margin_teacher", "scaling_gamma", "margin", "deep"])
    assert order == ["deep", "margin", "margin_teacher", "scaling_gamma", "scaling", "table1", "theory"]
    assert regeneration_order(["scaling"]) == ["scaling"]  # a dependency not asked for is not added
    for name, reads in READS.items():
        assert name in experiment_modules() and set(reads) <= set(experiment_modules())


def test_a_cycle_in_reads_is_an_error(monkeypatch):
    import kdlib.registry

    monkeypatch.setattr(kdlib.registry, "READS", {"a": ("b",), "b": ("a",)})
    with pytest.raises(ValueError, match="cycle"):
        kdlib.registry.regeneration_order(["a", "b", "c"])


def test_make_results_covers_every_experiment_of_the_store(capsys):
    store = ResultStore()
    assert main(["--dry-run"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    listed = {line.split(":")[0]: int(line.split()[1]) for line in lines}
    expected = {name: len(list((store.root / name).glob("*.json"))) for name in _record_folders(store)}
    assert listed == expected
    assert {"scaling", "scaling_gamma", "margin", "margin_teacher", "table1"} <= set(listed)
    names = [line.split(":")[0] for line in lines]
    assert names == regeneration_order(names)
    assert "skip" not in captured.err


def test_an_unknown_experiment_is_named(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--dry-run", "nosuch"])
    assert info.value.code == 2 and "unknown experiment(s) nosuch" in capsys.readouterr().err


def test_the_registry_lists_every_module_of_kdlib_experiments_once():
    """One experiment per module: the registry's table is the set of modules of kdlib.experiments
    that define NAME, Config and run, and each one's NAME is its key there."""
    import importlib
    import pkgutil

    import kdlib.experiments

    found = {}
    for info in pkgutil.iter_modules(kdlib.experiments.__path__):
        mod = importlib.import_module(f"kdlib.experiments.{info.name}")
        if all(hasattr(mod, a) for a in ("NAME", "Config", "run")):
            found[mod.NAME] = mod
    declared = experiment_modules()
    assert {k: v for k, v in declared.items() if k in found} == found
    # the rest are module-level experiment objects (e.g. tests/sweep_toy.AS_OBJECT), each under its own NAME
    assert all(v.NAME == k for k, v in declared.items())


def test_python_m_kdlib_dispatches_to_each_command(capsys):
    from kdlib.__main__ import COMMANDS
    from kdlib.__main__ import main as kdlib_main

    assert set(COMMANDS) == {"sweep", "regenerate", "grouped", "verify"}
    assert kdlib_main(["regenerate", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("records")
    assert kdlib_main(["nosuch"]) == 2 and "unknown command 'nosuch'" in capsys.readouterr().err
    assert kdlib_main([]) == 2 and "regenerate" in capsys.readouterr().out


def test_experiments_compute_only():
    """No module of kdlib.experiments draws a figure or formats a table: none imports matplotlib,
    kdlib.plots, kdlib.report or a chapter module, and none defines a format_/describe_/plot_ function
    (those live in kdlib.chapters)."""
    import ast
    from pathlib import Path

    import kdlib.experiments

    for path in Path(kdlib.experiments.__path__[0]).glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith(("matplotlib", "kdlib.plots", "kdlib.report", "kdlib.chapters"))], path
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert not [f for f in defined if f.startswith(("format_", "describe_", "plot_"))], path
