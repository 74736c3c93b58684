"""Speed of the chapter-7 CNN training (VGG 8+3 teacher, VGG 2+3 student).

CPU (always): epochs per second of :func:`kdlib.train_cnn.train_classifier` (dataset as
one tensor, batches by index, no DataLoader) for the teacher and the student, and the
same model, optimiser, batch size and per-epoch validation fed by a plain
torchvision-style loop (a Dataset whose items go through ``transforms.ToTensor()``, as
``torchvision.datasets.CIFAR10(transform=ToTensor())`` does, plus the fixed noise, and a
shuffling ``DataLoader``). Both are measured in this process; the ratio is printed.

Grouped (always): ``K`` nets trained one after the other with ``train_classifier`` against
the same ``K`` nets trained together as one grouped net (:mod:`kdlib.grouped`, the path of
the GPU script), same epochs; the ratio is printed (on a CPU grouping is not expected to
pay; on a GPU it is the point).

Precision (always): seconds per training step (forward, backward, Adam; 128 images) in bf16
autocast with channels_last against float32 as ``train_classifier`` runs it (the net in the
default layout, the images with the strides the loader gives them, which are channels-last
strided), per net and width, the two
interleaved step by step in this process (median of ``--steps``); the ratio is printed, and
whether this processor has native bf16 (:func:`kdlib.train_cnn.cpu_has_bf16`; without it
bf16 is emulated and ``precision="auto"`` stays float32). Then one epoch of
``train_classifier`` in each precision (validation included) at ``--width``.

GPU (when CUDA is there): the paper-scale profile. ``--paper-sweep`` runs the whole
sweep (6 noise levels x 10 runs x teacher and two students) end to end, one net at a time,
into the results store (``KDLIB_RESULTS`` or the repository's ``results/``) and prints the
wall time; without it, one epoch of each full-width net is timed and the sweep
extrapolated. The fast way to the paper's scale is ``benchmarks/gpu_paper_profile.sh``.

    python benchmarks/bench_cnn.py [--n 2000] [--epochs 2] [--width 0.125] [--threads 1] [--group 4]
    python benchmarks/bench_cnn.py --threads 2 --precision-only [--widths 1,0.5,0.25,0.125]
    python benchmarks/bench_cnn.py --paper-sweep            # on a GPU
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from kdlib.cifar import ImageSplit, load_cat_dog
from kdlib.train_cnn import CNNTrainConfig, accuracy, hard_loss, train_classifier
from kdlib.vgg import build_vgg


class TorchvisionStyle(Dataset):
    """uint8 HWC images converted per item by ``ToTensor()``, plus a fixed noise tensor."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from torchvision import transforms

        # back to what torchvision's CIFAR10 holds: uint8 HWC arrays (values clipped for this format)
        self.u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        self.noise = x - torch.from_numpy(self.u8).permute(0, 3, 1, 2).float() / 255
        self.y = y.tolist()
        self.tf = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.tf(self.u8[i]) + self.noise[i], self.y[i]


def dataloader_epochs(model: torch.nn.Module, train: ImageSplit, val: ImageSplit, cfg: CNNTrainConfig, epochs: int) -> float:
    """Seconds for ``epochs`` epochs of the plain DataLoader loop (hard labels, same validation)."""
    loader = DataLoader(TorchvisionStyle(train.x, train.y), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=0)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            loss = hard_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy(model, val, precision="float32")
    return time.perf_counter() - t0


def cpu_bench(n: int, epochs: int, width: float, batch: int) -> None:
    data = load_cat_dog(noise_variance=0.05, noise_seed=0, train_limit=n)
    # float32, as the DataLoader loop: this ratio is the data path's (the precision's is precision_bench's)
    cfg = CNNTrainConfig(lr=1e-3, weight_decay=5e-4, batch_size=batch, max_epochs=epochs, patience=epochs + 1,
                         precision="float32")
    print(f"CPU, {torch.get_num_threads()} thread(s), {n} training images, {len(data.val)} validation, "
          f"width x{width:g}, batch {batch}, {epochs} epochs each")
    print(f"{'net':<8} {'fast epochs/s':>14} {'DataLoader epochs/s':>20} {'ratio':>6}")
    warm = CNNTrainConfig(batch_size=batch, max_epochs=1, precision="float32")
    small = ImageSplit(data.train.x[: 2 * batch], data.train.y[: 2 * batch])
    for name in ("vgg8+3", "vgg2+3"):
        train_classifier(build_vgg(name, width_mult=width, seed=0), small, small, warm)  # warm-up, not timed
        m = build_vgg(name, width_mult=width, seed=0)
        fast = train_classifier(m, data.train, data.val, cfg).seconds
        m = build_vgg(name, width_mult=width, seed=0)
        slow = dataloader_epochs(m, data.train, data.val, cfg, epochs)
        print(f"{name:<8} {epochs / fast:14.3f} {epochs / slow:20.3f} {slow / fast:6.2f}")


def grouped_bench(n: int, epochs: int, width: float, batch: int, k: int, device: str) -> None:
    from kdlib.grouped import Job, train_group

    dev = torch.device(device)
    datas = [load_cat_dog(noise_variance=0.05, noise_seed=r, train_limit=n, device=dev) for r in range(k)]
    X = {p: torch.stack([getattr(d, p).x for d in datas]) for p in ("train", "val", "test")}
    Y = {p: torch.stack([getattr(d, p).y for d in datas]) for p in ("train", "val", "test")}
    cfg = CNNTrainConfig(lr=1e-3, weight_decay=5e-4, batch_size=batch, max_epochs=epochs, patience=epochs + 1)
    print(f"{k} nets, {n} training images each, width x{width:g}, batch {batch}, {epochs} epochs, on {dev}")
    print(f"{'net':<8} {'one by one s':>13} {'grouped s':>10} {'ratio':>6}")
    for name in ("vgg8+3", "vgg2+3"):
        jobs = [Job(name, 1000 + r, r, r) for r in range(k)]
        train_group(jobs[:1], X["train"][:, : 2 * batch], Y["train"][:, : 2 * batch], X["val"][:, :batch],
                    Y["val"][:, :batch], X["test"][:, :batch], Y["test"][:, :batch],
                    CNNTrainConfig(batch_size=batch, max_epochs=1), width)  # warm-up, not timed
        t = time.perf_counter()
        for r in range(k):
            train_classifier(build_vgg(name, width_mult=width, seed=1000 + r), datas[r].train, datas[r].val, cfg)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seq = time.perf_counter() - t
        t = time.perf_counter()
        train_group(jobs, X["train"], Y["train"], X["val"], Y["val"], X["test"], Y["test"], cfg, width)
        grp = time.perf_counter() - t
        print(f"{name:<8} {seq:13.2f} {grp:10.2f} {seq / grp:6.2f}")


def precision_bench(widths: list[float], steps: int, n: int, width: float, batch: int) -> None:
    """Step time of bf16 + channels_last over float32, per net and width; then one epoch of each."""
    import statistics

    from kdlib.train_cnn import _autocast, _prepare, cpu_has_bf16

    data = load_cat_dog(noise_variance=0.05, noise_seed=0, train_limit=max(n, 128))
    x, y = data.train.x[:128], data.train.y[:128]
    dev = x.device
    print(f"precision, {torch.get_num_threads()} thread(s), {dev}, native bf16: {cpu_has_bf16()}; "
          f"training steps of {len(y)} images, median of {steps}")
    print("seconds per step, wall clock and process CPU time (all threads; on a shared machine the wall "
          "clock grows with the other loads, the CPU time less)")
    print(f"{'net':<8} {'width':>6} {'float32 s':>10} {'bf16+cl s':>10} {'ratio':>6} {'CPU ratio':>10}")
    for w in widths:
        for name in ("vgg8+3", "vgg2+3"):
            setups = {}
            for prec in ("float32", "bf16"):
                m = build_vgg(name, width_mult=w, seed=0)
                opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=5e-4)
                setups[prec] = (m, opt, _prepare(m, x, prec))
            times: dict[str, list[float]] = {"float32": [], "bf16": []}
            cpu: dict[str, list[float]] = {"float32": [], "bf16": []}
            for i in range(steps + 2):  # the two precisions interleaved, the first two steps not timed
                for prec, (m, opt, xb) in setups.items():
                    t, c = time.perf_counter(), time.process_time()
                    with _autocast(dev, prec):
                        z = m(xb)
                    loss = hard_loss(z, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if i >= 2:
                        times[prec].append(time.perf_counter() - t)
                        cpu[prec].append(time.process_time() - c)
            f, b = statistics.median(times["float32"]), statistics.median(times["bf16"])
            cr = statistics.median(cpu["float32"]) / statistics.median(cpu["bf16"])
            print(f"{name:<8} {w:6.3g} {f:10.4f} {b:10.4f} {f / b:6.2f} {cr:10.2f}", flush=True)
    print(f"one epoch of train_classifier, {n} training images, {len(data.val)} validation, width x{width:g}, "
          f"batch {batch}")
    print(f"{'net':<8} {'float32 s':>10} {'bf16+cl s':>10} {'ratio':>6} {'CPU ratio':>10}")
    for name in ("vgg8+3", "vgg2+3"):
        sec, cpu_s = {}, {}
        for prec in ("float32", "bf16"):
            cfg = CNNTrainConfig(batch_size=batch, max_epochs=1, patience=1, precision=prec)
            r = train_classifier(build_vgg(name, width_mult=width, seed=0), data.train, data.val, cfg)
            sec[prec], cpu_s[prec] = r.seconds, r.cpu_seconds
        print(f"{name:<8} {sec['float32']:10.2f} {sec['bf16']:10.2f} {sec['float32'] / sec['bf16']:6.2f} "
              f"{cpu_s['float32'] / cpu_s['bf16']:10.2f}", flush=True)


def gpu_estimate() -> None:
    dev = torch.device("cuda")
    data = load_cat_dog(noise_variance=0.05, noise_seed=0, device=dev)
    cfg = CNNTrainConfig(lr=1e-3, weight_decay=5e-4, batch_size=128, max_epochs=3, patience=10)
    per = {}
    for name in ("vgg8+3", "vgg2+3"):
        m = build_vgg(name, seed=0)
        train_classifier(m, data.train, data.val, CNNTrainConfig(max_epochs=1))  # warm-up
        torch.cuda.synchronize()
        per[name] = train_classifier(m, data.train, data.val, cfg).seconds / 3
        print(f"{name}: {per[name]:.3f} s/epoch on {torch.cuda.get_device_name()} (bf16 autocast, channels_last)")
    for epochs in (30, 50, 100):
        total = 6 * 10 * epochs * (per["vgg8+3"] + 2 * per["vgg2+3"])
        print(f"paper sweep if every net ran {epochs} epochs: {total / 60:.1f} min")


def gpu_sweep() -> None:
    from kdlib.chapters import deep_networks
    from kdlib.experiments import deep
    from kdlib.results import load_or_run

    t0 = time.perf_counter()
    for c in deep.sweep("paper", deep.NOISE_VARIANCES, device="cuda"):
        t = time.perf_counter()
        rec = load_or_run(deep, c)
        s = deep_networks.summarize([rec])[0]
        print(f"variance {c.noise_variance:4.2f}: {time.perf_counter() - t:6.1f} s  teacher {s['teacher']:.1f}  "
              f"hard {s['hard']:.1f}  soft {s['soft']:.1f}", flush=True)
    print(f"paper-scale sweep end to end: {(time.perf_counter() - t0) / 60:.2f} min (target: under 10)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="training images for the CPU comparison")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--paper-sweep", action="store_true", help="on a GPU: run and store the paper-scale sweep")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--group", type=int, default=4, help="nets in the grouped comparison (0: skip it)")
    ap.add_argument("--widths", default="1,0.5,0.25,0.125", help="widths of the precision comparison")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per precision in the precision comparison")
    ap.add_argument("--precision-only", action="store_true", help="only the bf16 / float32 comparison")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    np.random.seed(0)
    torch.manual_seed(0)
    precision_bench([float(w) for w in a.widths.split(",") if w.strip()], a.steps, a.n, a.width, 128)
    if a.precision_only:
        return
    if not a.skip_cpu:
        cpu_bench(a.n, a.epochs, a.width, a.batch)
    if a.group:
        grouped_bench(a.n, a.epochs, a.width if not torch.cuda.is_available() else 1.0, a.batch if not
                      torch.cuda.is_available() else 128, a.group, "cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        gpu_sweep() if a.paper_sweep else gpu_estimate()
    else:
        print("no GPU here: the paper-scale timing (target: the whole sweep under 10 min on one H200) was not measured")


if __name__ == "__main__":
    main()
