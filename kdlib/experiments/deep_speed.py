"""Chapter 7: seconds per training step of both nets at several widths (``NAME = "deep_speed"``).

The FLOP rates of these records feed the cost model of :mod:`kdlib.experiments.deep`
(:func:`~kdlib.experiments.deep.profile_cost`), which the chapter uses to say what the
paper's profile would cost here and on a GPU.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from kdlib.cifar import load_cat_dog
from kdlib.data import resolve_device
from kdlib.experiments.deep import STUDENT, TEACHER
from kdlib.results import RunOutput
from kdlib.validate import in_interval, integer
from kdlib.vgg import build_vgg

NAME = "deep_speed"




@dataclass(frozen=True)
class Config:
    """Seconds per training step (forward, backward, Adam) of both nets at several widths,
    on a batch of real training images (noise-free cat/dog, the first ``batch_size``), on the
    device the record names, with ``threads`` CPU threads. The first ``warmup`` steps are
    not timed; then the median of ``steps``. On the CPU the process's CPU time is used as
    well as the wall time: on a shared machine the wall time grows with the other loads,
    the CPU time of a one-thread process much less."""

    widths: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    batch_size: int = 128
    steps: int = 10
    warmup: int = 3
    threads: int = 1
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(float(w) for w in self.widths))
        if not self.widths:
            raise ValueError("widths is empty")
        for w in self.widths:
            in_interval("widths", w, 0, 4, closed_high=True)
        for name in ("batch_size", "steps", "threads"):
            integer(name, getattr(self, name), 1)
        integer("warmup", self.warmup, 0)


def run(config: Config) -> RunOutput:
    """Rows: net, width, wall and CPU seconds per step (medians), images per second and the
    FLOP rate ``6 * MACs * batch / seconds`` (:func:`kdlib.vgg.forward_macs`), from the CPU
    time on a CPU (from the wall time on a GPU)."""
    import time

    from kdlib.train_cnn import hard_loss
    from kdlib.vgg import forward_macs

    dev = resolve_device(config.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    rows = []
    try:
        data = load_cat_dog(("cat", "dog"), noise_variance=0.0, noise_seed=0, train_limit=config.batch_size,
                            device=dev)
        x, y = data.train.x, data.train.y
        for w in config.widths:
            for spec in (TEACHER, STUDENT):
                model = build_vgg(spec, width_mult=w, seed=0).to(dev)
                opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
                wall, cpu = [], []
                for i in range(config.warmup + config.steps):
                    t, c = time.perf_counter(), time.process_time()
                    loss = hard_loss(model(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    if i >= config.warmup:
                        wall.append(time.perf_counter() - t)
                        cpu.append(time.process_time() - c)
                sec = statistics.median(cpu if dev.type == "cpu" else wall)
                macs = forward_macs(spec, w)
                rows.append({"net": spec, "width_mult": w, "batch_size": len(y),
                             "seconds_per_step": round(sec, 5), "wall_seconds_per_step": round(statistics.median(wall), 5),
                             "images_per_s": round(len(y) / sec, 2),
                             "gflop_per_s": round(6 * macs * len(y) / sec / 1e9, 3), "forward_macs": macs})
    finally:
        torch.set_num_threads(threads)
    return RunOutput(rows=rows, seeds=[0], device=str(dev),
                     extra={"threads": config.threads, "data_source": data.source,
                            "clock": "process CPU time on a CPU, wall time on a GPU; wall time recorded too"})
