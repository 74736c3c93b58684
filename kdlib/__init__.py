"""kdlib: the library behind the book on soft-label vs hard-label training.

Where each chapter's code lives (experiment: computes its records, :mod:`kdlib.experiments`;
trainer: trains its networks; presentation: its tables, figures and quoted values,
:mod:`kdlib.chapters`):

=====================  ===========================================  ==============================  ==============================
chapter                experiment(s)                                trainer                         presentation
=====================  ===========================================  ==============================  ==============================
1 ``motivation``       ``experiments.table1``                       ``train`` (``train_students``)  ``chapters.motivation``
2 ``kernel``           ``experiments.kernel``                       (none: ``ntk``)                 ``chapters.kernel``
3 ``margin``           ``experiments.margin``, ``margin_teacher``   (none: ``margin``)              ``chapters.margin``
4 ``soft_labels``      ``experiments.theory``                       ``train`` (``train_students``)  ``chapters.soft_labels``
5 ``hard_labels``      ``experiments.theory``                       ``train`` (``train_students``)  ``chapters.hard_labels``
6 ``neuron_scaling``   ``experiments.scaling_gamma``, ``scaling``,  ``train`` (``train_bank``),    ``chapters.neuron_scaling``
                       ``frontier``                                 ``train_circle``
7 ``deep_networks``    ``experiments.deep``, ``deep_settings``,     ``train_cnn``; ``grouped``      ``chapters.deep_networks``
                       ``deep_speed``                               (a GPU's grouped nets)
=====================  ===========================================  ==============================  ==============================

The modules below them, one per idea: ``validate`` (the input checks), ``data`` and ``cifar``
(datasets), ``planted`` (planted-margin data), ``nets`` and ``vgg`` (networks), ``losses``,
``train`` (two-layer training, the student bank included), ``train_circle`` (the bank on the circle by
prefix sums), ``train_cnn`` and ``grouped`` (the
VGGs of Chapter 7), ``ntk`` (the limiting kernel and kernel gradient descent), ``margin`` (gamma, its certificate and the
gamma record's reader ``dual_weights``), ``margin_2d`` (gamma exactly on the circle),
``bounds`` (the paper's width requirements), ``fit`` (slopes and summaries), ``paper`` (the
paper's numbers, quoted), ``teachers`` (stored teachers), ``results`` (the results store),
``sweep`` (many configurations on Dask), ``registry`` (every experiment and what it reads),
``regenerate`` (recompute the store), ``report`` (one table type, ``show``, the number formats)
and ``plots`` (the figure style). ``python -m kdlib sweep | regenerate | grouped``
(:mod:`kdlib.__main__`) is the command line.
"""
__version__ = "0.1.0"
