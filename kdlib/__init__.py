"""kdlib: the library behind the book on soft-label vs hard-label training.

One module per idea of the book: ``data`` (datasets), ``nets`` (networks),
``losses``, ``train``, ``ntk`` (the limiting kernel), ``margin`` (gamma),
``bounds`` (the paper's width requirements), ``results`` (the results store),
``plots``, and ``experiments`` (one module per chapter experiment).
"""
__version__ = "0.1.0"
