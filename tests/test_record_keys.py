"""Every stored record's configuration, rebuilt into its experiment's ``Config`` (as ``python -m kdlib
regenerate`` rebuilds it), hashes to the record's key: a change to a ``Config`` (a field added, moved to a
shared base, or given another default) that would orphan stored records fails here."""
from __future__ import annotations

import pytest

from kdlib import registry
from kdlib.results import ResultStore, config_key


def _stored():
    store = ResultStore()
    if not store.root.is_dir():
        return []
    names = sorted(p.name for p in store.root.iterdir() if p.is_dir() and p.name not in registry.NOT_RECORDS)
    return [(name, rec) for name in names if name in registry.EXPERIMENTS for rec in store.records(name)]


@pytest.mark.parametrize("name", sorted(registry.EXPERIMENTS))
def test_stored_configs_rebuild_to_their_keys(name):
    records = [rec for n, rec in _stored() if n == name]
    if not records:
        pytest.skip(f"no {name} records stored")
    module = registry.experiment(name)
    for rec in records:
        cfg = registry.config_from_record(module, rec)
        assert config_key(name, cfg) == rec["key"], f"{name}/{rec['key']}: its Config hashes to another key"
