"""Every stored record can be regenerated: its experiment is found and its config rebuilt."""
from __future__ import annotations

from kdlib.regenerate import config_from_record, experiment_modules
from kdlib.results import ResultStore, config_key
from kdlib.teachers import FOLDER as TEACHERS


def test_every_stored_record_maps_back_to_its_experiment_and_config():
    store = ResultStore()
    experiments = experiment_modules()
    # results/teachers/ holds trained teachers (kdlib.teachers), not records
    folders = sorted(p.name for p in store.root.iterdir() if p.is_dir() and p.name != TEACHERS)
    assert folders, "the results store is empty"
    for name in folders:
        assert name in experiments, f"no experiment has NAME = {name!r}; `make results` could not regenerate it"
        for rec in store.records(name):
            cfg = config_from_record(experiments[name], rec)
            # the rebuilt config hashes to the record's own key, so a rerun overwrites this very file
            assert config_key(name, cfg) == rec["key"]
