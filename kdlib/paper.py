"""Numbers quoted from the paper (Mandal, Lin & Srikant, 2025), for side-by-side tables.

These are the paper's published values, not ours: they are shown next to what
kdlib measures and never used as results.
"""
from __future__ import annotations

#: Table 1 of the paper (printed there as "Table 2"): binary MNIST, two-layer nets,
#: test accuracy in percent. Keys: (dataset, student width).
TABLE1 = {
    ("reduced", 8): {"teacher": 98.75, "hard": 97.19, "soft": 97.67},
    ("reduced", 6): {"teacher": 98.75, "hard": 96.84, "soft": 97.26},
    ("reduced", 4): {"teacher": 98.75, "hard": 93.04, "soft": 95.83},
    ("full", 8): {"teacher": 98.34, "hard": 95.77, "soft": 96.58},
    ("full", 6): {"teacher": 98.34, "hard": 95.33, "soft": 96.00},
    ("full", 4): {"teacher": 98.34, "hard": 88.84, "soft": 95.62},
}
TABLE1_TEACHER_WIDTH = 512

#: The paper's figure (Section 4), read off the plot: noise variance -> (teacher, hard, soft) test accuracy in %, about +-0.3.
FIGURE_CIFAR: dict[float, tuple[float, float, float]] = {
    0.01: (82.5, 74.7, 76.0),
    0.03: (78.4, 74.2, 75.2),
    0.05: (79.1, 73.8, 74.2),
    0.10: (77.7, 67.2, 75.0),
    0.20: (73.4, 62.2, 70.4),
}
