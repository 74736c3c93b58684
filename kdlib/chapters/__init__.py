"""One module per chapter of the book: its tables, figures and the values its prose quotes.

Named like the chapter's notebook without its number (``book/03_margin.ipynb`` ->
:mod:`kdlib.chapters.margin`). A chapter module reads records (from
:func:`kdlib.sweep.run_sweep` or the store) and returns rows for :func:`kdlib.report.show`,
:class:`kdlib.report.Table` objects, figures or Markdown; it computes nothing that a record
does not already hold beyond summaries of it. The experiments that write the records are
in :mod:`kdlib.experiments` (compute only); :mod:`kdlib` maps each chapter to both.
"""
