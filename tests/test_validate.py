"""kdlib.validate: one home for the parameter checks of every experiment."""
from __future__ import annotations

import math

import pytest

from kdlib import validate as V
from kdlib.experiments import margin, theory


def test_integer():
    assert V.integer("n", 5, 2) == 5
    for bad in (1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="n must be an integer >= 2"):
            V.integer("n", bad, 2)
    with pytest.raises(ValueError, match="<= 4"):
        V.integer("k", 5, 0, 4)


def test_number_keeps_bounds_and_converts_to_float():
    assert V.number("lr", 2, gt=0) == 2.0 and isinstance(V.number("lr", 2, gt=0), float)
    assert V.number("B", math.inf, gt=0, finite=False) == math.inf
    for bad in (0, -1.0, math.nan, math.inf, "fast", False):
        with pytest.raises(ValueError, match="lr"):
            V.number("lr", bad, gt=0)
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 0.333333\)"):
        V.in_interval("delta", 0.5, 0, 1 / 3)
    assert V.in_interval("eta", 1.0, 0, 1, closed_high=True) == 1.0


def test_choice_nonempty_optional():
    assert V.choice("task", "full", ("full", "reduced")) == "full"
    with pytest.raises(ValueError, match="task must be one of"):
        V.choice("task", "easy", ("full", "reduced"))
    with pytest.raises(ValueError, match="widths must not be empty"):
        V.nonempty("widths", ())
    assert V.optional_integer("limit", None, 2) is None
    with pytest.raises(ValueError, match="None \\(all\\) or an integer >= 2"):
        V.optional_integer("limit", 1, 2, none_means="all")


def test_more_points_than_the_task_has_is_an_error():
    with pytest.raises(ValueError, match="more than the full task's training images \\(60,000\\)"):
        margin.Config(n=10**9)
    with pytest.raises(ValueError, match="35,202"):
        theory.Config(task="reduced", n=40_000)
    assert margin.Config(task="reduced", n=35_202).n == 35_202


def test_task_sizes_match_the_data(mnist_raw):
    from kdlib.data import binary_mnist

    for task, size in V.MNIST_TRAIN_SIZES.items():
        assert len(binary_mnist(task, train=True)) == size


def test_parameter_list_reads_papermill_strings_as_lists():
    from kdlib.validate import parameter_list

    assert parameter_list("widths", [16, 64]) == (16, 64)
    assert parameter_list("widths", "[16, 64]") == (16, 64)          # -p widths "[16, 64]" (JSON)
    assert parameter_list("tasks", "[full, reduced]") == ("full", "reduced")  # YAML
    assert parameter_list("PAIRS", "[[0, 1], [3, 5]]") == ((0, 1), (3, 5))
    assert parameter_list("widths", 64) == (64,) and parameter_list("tasks", "full") == ("full",)
    for bad in ("[16, 64", "", None, {"a": 1}, "{a: 1}"):
        with pytest.raises(ValueError, match=r"^widths must be a list"):
            parameter_list("widths", bad)


def test_seeds_is_a_count_in_every_chapter_and_keys_do_not_change():
    """``seeds = k`` means the seeds 0..k-1; Chapters 4-6's configs convert it to the seed values
    their records store, so a count and the stored list give the same record key."""
    from kdlib.experiments import scaling
    from kdlib.results import config_key
    from kdlib.validate import seed_values

    assert seed_values("seeds", 3) == (0, 1, 2)
    assert seed_values("seeds", [4, 7]) == (4, 7)
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        seed_values("seeds", 0)
    assert theory.Config(seeds=2).seeds == (0, 1)
    assert config_key(theory.NAME, theory.Config(seeds=2)) == config_key(theory.NAME, theory.Config(seeds=[0, 1]))
    assert config_key(scaling.NAME, scaling.Config(seeds=5)) == config_key(scaling.NAME, scaling.Config(seeds=[0, 1, 2, 3, 4]))
