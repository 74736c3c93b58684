"""One module per chapter experiment.

Each module defines ``NAME`` (the folder in the results store), a frozen
dataclass ``Config`` whose fields are exactly the chapter's papermill
parameters (or the part of them one record covers), and
``run(config) -> kdlib.results.RunOutput``. Notebooks call
``kdlib.results.load_or_run(module, config)``.
"""
