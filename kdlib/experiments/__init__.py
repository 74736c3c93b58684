"""One module per experiment: compute only (no table, no figure, no prose).

Each module defines ``NAME`` (the folder in the results store, and the experiment's key in
:data:`kdlib.registry.EXPERIMENTS`), a frozen dataclass ``Config`` (one record's
configuration: the chapter's papermill parameters, or the part of them one record covers;
where a field cannot carry a parameter's name without changing stored record keys, the
module's docstring gives the mapping), ``run(config) -> kdlib.results.RunOutput``, and where
the chapter has one, ``sweep_configs`` (its default configurations). Notebooks compute or
read records through :func:`kdlib.sweep.run_sweep` (never ``run`` directly) and present them
with their chapter's module of :mod:`kdlib.chapters`.
"""
