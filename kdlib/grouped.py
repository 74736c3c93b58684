"""Many VGG nets trained at once as one grouped net (Chapter 7's sweep at the paper's scale).

One VGG 8+3 on 9,600 images of 32x32 pixels cannot fill a large GPU: its kernels are
small and the launch overhead dominates. So the chapter's 60 teachers (6 noise levels x
10 runs), and then its 120 students, are trained *together*: :class:`GroupedVGG` packs
``K`` nets of one spec into one module whose convolutions have ``groups=K``, whose
batch norms have ``K`` times the channels, and whose fully connected layers are batched
matrix products. Net ``k`` owns channel block ``k`` of every layer and sees only its own
images (block ``k`` of the input channels), so the packed net computes exactly the ``K``
separate nets; the loss is the sum of the ``K`` per-net batch means, so net ``k``'s
gradient is its own; Adam is elementwise, so one Adam over the packed tensors is ``K``
Adams. Early stopping is kept per net on the device (best validation accuracy, best
epoch, a copy of the best weights chosen with ``torch.where``); nets that have stopped
keep computing (their results are already fixed) until every net of the group has
stopped or ``max_epochs`` is reached.

On a GPU: data resident on the device (every run's noisy images as one tensor),
batches gathered by index from per-net permutations made on the device, bf16 autocast
with channels_last tensors (as :func:`kdlib.train_cnn.resolve_precision` says: also on a
CPU with native bf16, unless ``precision="float32"``), fused Adam, optional ``torch.compile`` (``--compile``), and
no host synchronisation inside the step loop (the epoch loss and the early-stopping
state stay on the device; one synchronisation per epoch decides whether to go on).

The same code runs on the CPU (``--device cpu``), which is how it is tested: a dry run
on the tiny ``smoke`` profile writes well-formed records, and a packed net trains to the
same weights as the nets trained one by one (``tests/test_deep_grouped.py``).

    python -m kdlib grouped --profile paper --out /tmp/deep-paper [--compile] [--group 60]
    python -m kdlib grouped --dry-run --out /tmp/deep-smoke        # tiny profile on the CPU

(the command line, which builds the configs and writes the store, is :func:`kdlib.__main__.grouped`;
this module takes configs and imports no experiment).

Records go to ``<out>/deep/<key>.json`` with the same configuration, key and row format
as :func:`kdlib.experiments.deep.run`; copy them into ``results/deep/``.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kdlib.cifar import load_cat_dog, source_notice
from kdlib.data import resolve_device
from kdlib.losses import softmax_confidence
from kdlib.results import RunOutput
from kdlib.train_cnn import apply_augment, augment_draws, resolve_precision
from kdlib.vgg import VGG, build_vgg, n_parameters


class GroupedVGG(nn.Module):
    """``K`` :class:`~kdlib.vgg.VGG` nets of one spec as one module (see the module docstring).

    Input: ``(B, K * 3, H, W)``, block ``k`` of the channels being net ``k``'s images.
    Output: logits ``(K, B, n_classes)``. The weights are copied from ``nets``.
    """

    def __init__(self, nets: Sequence[VGG]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("need at least one net to group")
        ref = nets[0]
        if any(n.describe() != ref.describe() or n.spec.batch_norm != ref.spec.batch_norm for n in nets):
            raise ValueError("all nets of a group must have the same layers")
        K = self.K = len(nets)
        layers: list[nn.Module] = []
        for i, m in enumerate(ref.features):
            if isinstance(m, nn.Conv2d):
                g = nn.Conv2d(K * m.in_channels, K * m.out_channels, m.kernel_size, stride=m.stride,
                              padding=m.padding, groups=K, bias=m.bias is not None)
                with torch.no_grad():
                    g.weight.copy_(torch.cat([n.features[i].weight for n in nets]))
                    if m.bias is not None:
                        g.bias.copy_(torch.cat([n.features[i].bias for n in nets]))
                layers.append(g)
            elif isinstance(m, nn.BatchNorm2d):
                g = nn.BatchNorm2d(K * m.num_features, eps=m.eps, momentum=m.momentum)
                with torch.no_grad():
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(g, name).copy_(torch.cat([getattr(n.features[i], name) for n in nets]))
                layers.append(g)
            elif isinstance(m, nn.ReLU):
                layers.append(nn.ReLU(inplace=True))
            elif isinstance(m, nn.MaxPool2d):
                layers.append(nn.MaxPool2d(m.kernel_size, m.stride))
            else:
                raise TypeError(f"cannot group a {type(m).__name__}")
        self.features = nn.Sequential(*layers)
        linears = [j for j, m in enumerate(ref.classifier) if isinstance(m, nn.Linear)]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([n.classifier[j].weight.detach().t() for n in nets]).contiguous())
            for j in linears)  # (K, in, out)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([n.classifier[j].bias.detach() for n in nets]).contiguous()) for j in linears)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        h = h.reshape(h.shape[0], self.K, -1).transpose(0, 1)  # (K, B, C*h*w), each net's own flattening
        last = len(self.weights) - 1
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b.unsqueeze(1).to(h.dtype), h, w.to(h.dtype))
            if j < last:
                h = torch.relu(h)
        return h

    def per_net(self) -> list[torch.Tensor]:
        """Every parameter and batch-norm buffer as a view ``(K, ...)`` whose slice ``k`` is net ``k``'s part
        (splitting the leading dimension, which works for any memory format)."""
        out = [p.unflatten(0, (self.K, -1)) for p in self.parameters()]
        out += [b.unflatten(0, (self.K, -1)) for name, b in self.named_buffers()
                if not name.endswith("num_batches_tracked")]
        return out

    def unpack(self, k: int, template: VGG) -> VGG:
        """Net ``k`` as a plain :class:`VGG` (weights copied into ``template``, which is returned)."""
        K = self.K
        with torch.no_grad():
            for m, g in zip(template.features, self.features):
                if isinstance(m, nn.Conv2d):
                    m.weight.copy_(g.weight.view(K, *m.weight.shape)[k])
                    if m.bias is not None:
                        m.bias.copy_(g.bias.view(K, -1)[k])
                elif isinstance(m, nn.BatchNorm2d):
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(m, name).copy_(getattr(g, name).view(K, -1)[k])
            linears = [m for m in template.classifier if isinstance(m, nn.Linear)]
            for m, w, b in zip(linears, self.weights, self.biases):
                m.weight.copy_(w[k].t())
                m.bias.copy_(b[k])
        return template


@dataclass
class Job:
    """One net to train: its spec, init seed, batch-order seed, data slot, and its targets
    (``temperature`` None: hard labels; else soft labels from the teacher logits of its slot)."""

    spec: str
    init_seed: int
    order_seed: int
    slot: int
    temperature: float | None = None


@dataclass
class GroupResult:
    """Per net of a group: best epoch, best validation accuracy, epochs run, test accuracy, final model;
    the group's wall seconds and the precision it used."""

    best_epoch: list[int]
    best_val_acc: list[float]
    epochs_run: list[int]
    test_acc: list[float]
    models: list[VGG]
    seconds: float
    train_logits: torch.Tensor | None = None
    precision: str = "float32"


def _autocast(dev: torch.device, precision: str = "auto"):
    """bf16 autocast on ``dev`` when :func:`~kdlib.train_cnn.resolve_precision` says bf16, else a no-op."""
    on = resolve_precision(precision, dev) == "bf16"
    return torch.autocast(device_type=dev.type if dev.type in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16,
                          enabled=on)


def _to_input(xb: torch.Tensor, precision: str = "float32") -> torch.Tensor:
    """``(K, B, C, H, W)`` -> ``(B, K*C, H, W)`` (channels_last when the precision is bf16)."""
    K, B, C, H, W = xb.shape
    x = xb.transpose(0, 1).reshape(B, K * C, H, W)
    return x.contiguous(memory_format=torch.channels_last) if resolve_precision(precision, x.device) == "bf16" else x


def _layout(model: GroupedVGG, precision: str, dev: torch.device) -> GroupedVGG:
    """The grouped net in channels_last when the precision is bf16 (else as it is)."""
    return model.to(memory_format=torch.channels_last) if resolve_precision(precision, dev) == "bf16" else model


@torch.no_grad()
def grouped_logits(model: GroupedVGG, x: torch.Tensor, slots: torch.Tensor, batch_size: int = 500,
                   precision: str = "auto") -> torch.Tensor:
    """Logits ``(K, N, classes)`` (float32, eval mode) of net ``k`` on ``x[slots[k]]``; ``x`` is ``(D, N, C, H, W)``."""
    was = model.training
    model.eval()
    dev = x.device
    prec = resolve_precision(precision, dev)
    outs = []
    with _autocast(dev, prec):
        for i in range(0, x.shape[1], batch_size):
            outs.append(model(_to_input(x[slots, i : i + batch_size], prec)).float())
    model.train(was)
    return torch.cat(outs, dim=1)


def _subset(model: GroupedVGG, opt: torch.optim.Optimizer, keep: torch.Tensor, template: VGG,
            tcfg: Any) -> tuple[GroupedVGG, torch.optim.Optimizer]:
    """A group of the nets ``keep`` (positions) of ``model``, with their weights, batch-norm
    statistics and Adam moments (the step count is shared), and its Adam optimiser."""
    dev = keep.device
    K = model.K
    new = _layout(GroupedVGG([template] * len(keep)).to(dev), tcfg.precision, dev)
    with torch.no_grad():
        for v_new, v_old in zip(new.per_net(), model.per_net()):
            v_new.copy_(v_old[keep])
    new_opt = torch.optim.Adam(new.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                               fused=True if dev.type == "cuda" else None)
    for p_old, p_new in zip(model.parameters(), new.parameters()):
        state = opt.state.get(p_old)
        if not state:
            continue
        new_opt.state[p_new] = {
            k: (torch.empty_like(p_new).copy_(t.unflatten(0, (K, -1))[keep].flatten(0, 1))
                if torch.is_tensor(t) and t.shape == p_old.shape else (t.clone() if torch.is_tensor(t) else t))
            for k, t in state.items()}
    return new, new_opt


def train_group(
    jobs: Sequence[Job],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    tcfg: Any,
    width_mult: float,
    *,
    teacher_logits: torch.Tensor | None = None,
    compile: bool = False,
    keep_train_logits: bool = False,
    compact_below: float = 0.5,
    progress: bool = False,
    desc: str = "group",
) -> GroupResult:
    """Train ``jobs`` (one spec) together with per-net early stopping, as
    :func:`kdlib.train_cnn.train_classifier` trains each alone.

    Data: ``x_*`` are ``(D, N, C, H, W)`` and ``y_*`` ``(D, N)`` for ``D`` data slots on one
    device; ``teacher_logits`` ``(D, N_train, classes)`` gives the soft labels of a slot.
    ``tcfg`` is a :class:`~kdlib.train_cnn.CNNTrainConfig` (its seed and temperature are
    replaced by each job's). ``keep_train_logits``: also return every net's logits on its
    training set (``GroupResult.train_logits``, for the teachers' soft labels).
    ``tcfg.precision``: bf16 autocast and channels_last, or float32
    (:func:`~kdlib.train_cnn.resolve_precision`); the losses are evaluated in float32.
    ``compact_below``: when the nets still training are at most this fraction of the group,
    the group is rebuilt from them alone (weights, batch-norm statistics, Adam moments and
    batch-order generators carried over), so stopped nets stop costing time; 0 never.
    """
    if len({j.spec for j in jobs}) != 1:
        raise ValueError("a group trains nets of one spec")
    dev = x_train.device
    K0 = K = len(jobs)
    template = build_vgg(jobs[0].spec, width_mult=width_mult)
    prec = resolve_precision(getattr(tcfg, "precision", "auto"), dev)
    model = GroupedVGG([build_vgg(j.spec, width_mult=width_mult, seed=j.init_seed) for j in jobs]).to(dev)
    model = _layout(model, prec, dev)
    forward = torch.compile(model) if compile else model
    slots = torch.tensor([j.slot for j in jobs], device=dev)
    all_slots = slots.clone()
    n = x_train.shape[1]
    bs = min(tcfg.batch_size, n)
    steps = n // bs  # full batches only, as train_classifier
    soft = [j.temperature is not None for j in jobs]
    if any(soft) and teacher_logits is None:
        raise ValueError("soft-label jobs need teacher_logits")
    is_soft = torch.tensor(soft, device=dev)
    temps = torch.tensor([j.temperature or 1.0 for j in jobs], device=dev, dtype=torch.float32).view(K, 1, 1)
    q_all = None
    if any(soft):
        q_all = torch.softmax(teacher_logits.to(dev, torch.float32)[slots] / temps, dim=-1)  # (K, N, classes)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                           fused=True if dev.type == "cuda" else None)
    gens = [torch.Generator(device=dev).manual_seed(int(j.order_seed)) for j in jobs]
    best_acc = torch.full((K,), -1.0, device=dev)
    best_epoch = torch.zeros(K, dtype=torch.long, device=dev)
    stopped_at = torch.zeros(K, dtype=torch.long, device=dev)  # 0: still running
    views = model.per_net()
    best = [v.detach().clone() for v in views]
    orig = list(range(K))  # position in the group -> index in jobs
    final: dict[int, tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def retire(positions: list[int]) -> None:
        for p in positions:
            final[orig[p]] = ([b[p].clone() for b in best], best_acc[p], best_epoch[p], stopped_at[p])

    t0 = time.perf_counter()
    bar = tqdm(range(1, tcfg.max_epochs + 1), desc=desc, disable=not progress, leave=False)
    epoch = 0
    for epoch in bar:
        model.train()
        ar = torch.arange(K, device=dev).view(K, 1)
        perm = torch.stack([torch.randperm(n, device=dev, generator=g) for g in gens])  # (K, n)
        for s in range(steps):
            idx = perm[:, s * bs : (s + 1) * bs]  # (K, B)
            xb = x_train[slots.view(K, 1), idx]  # (K, B, C, H, W)
            if tcfg.augment:  # each net's draws from its own generator, as train_classifier makes them
                draws = [augment_draws(idx.shape[1], g, dev) for g in gens]
                flip = torch.cat([d[0] for d in draws])
                shift = torch.cat([d[1] for d in draws])
                xb = apply_augment(xb.flatten(0, 1), flip, shift).view(xb.shape)
            with _autocast(dev, prec):
                logits = forward(_to_input(xb, prec))
            logits = logits.float()
            logp = torch.log_softmax(logits / torch.where(is_soft.view(K, 1, 1), temps, 1.0), dim=-1)
            hard = -logp.gather(-1, y_train[slots.view(K, 1), idx].unsqueeze(-1)).squeeze(-1).mean(1)
            if q_all is not None:
                softl = -(q_all[ar, idx] * logp).sum(-1).mean(1)
                loss = torch.where(is_soft, softl, hard).sum()
            else:
                loss = hard.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        # validation, early stopping per net, all on the device
        pred = grouped_logits(model, x_val, slots, precision=prec).argmax(-1)
        acc = (pred == y_val[slots]).float().mean(1)
        running = stopped_at == 0
        improved = (acc > best_acc) & running
        best_acc = torch.where(improved, acc, best_acc)
        best_epoch = torch.where(improved, torch.full_like(best_epoch, epoch), best_epoch)
        for b, v in zip(best, views):
            b.copy_(torch.where(improved.view(K, *[1] * (v.dim() - 1)), v.detach(), b))
        stop_now = running & (epoch - best_epoch >= tcfg.patience)
        stopped_at = torch.where(stop_now, torch.full_like(stopped_at, epoch), stopped_at)
        n_running = int((stopped_at == 0).sum())  # the one synchronisation per epoch
        bar.set_postfix(running=n_running)
        if n_running == 0:
            break
        if compact_below > 0 and n_running < K and n_running <= compact_below * K and epoch < tcfg.max_epochs:
            keep_list = [p for p, z in enumerate((stopped_at == 0).tolist()) if z]
            retire([p for p in range(K) if p not in keep_list])
            keep = torch.tensor(keep_list, device=dev)
            model, opt = _subset(model, opt, keep, template, dataclasses.replace(tcfg, precision=prec))
            forward = torch.compile(model) if compile else model
            views = model.per_net()
            best = [b[keep] for b in best]
            best_acc, best_epoch, stopped_at = best_acc[keep], best_epoch[keep], stopped_at[keep]
            slots, is_soft, temps = slots[keep], is_soft[keep], temps[keep]
            q_all = None if q_all is None else q_all[keep]
            gens = [gens[p] for p in keep_list]
            orig = [orig[p] for p in keep_list]
            K = len(keep_list)
    stopped_at = torch.where(stopped_at == 0, torch.full_like(stopped_at, epoch), stopped_at)
    retire(list(range(K)))
    # every net's best weights in one group again, for the test set and the training logits
    full = _layout(GroupedVGG([template] * K0).to(dev), prec, dev)
    with torch.no_grad():
        for i, v in enumerate(full.per_net()):
            for k in range(K0):
                v[k].copy_(final[k][0][i])
    test_pred = grouped_logits(full, x_test, all_slots, precision=prec).argmax(-1)
    test_acc = (test_pred == y_test[all_slots]).float().mean(1)
    train_logits = grouped_logits(full, x_train, all_slots, precision=prec) if keep_train_logits else None
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    full = full.float().to(memory_format=torch.contiguous_format)
    models = [full.unpack(k, build_vgg(j.spec, width_mult=width_mult).to(dev)) for k, j in enumerate(jobs)]
    stats = torch.stack([torch.stack([final[k][1].float(), final[k][2].float(), final[k][3].float()])
                         for k in range(K0)]).tolist()
    return GroupResult(best_epoch=[int(s[1]) for s in stats], best_val_acc=[s[0] for s in stats],
                       epochs_run=[int(s[2]) for s in stats], test_acc=test_acc.tolist(), models=models,
                       seconds=seconds, train_logits=train_logits, precision=prec)


def _stack(parts: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(parts)


def run_configs(configs: Sequence[Any], *, teacher: str, student: str, device: str | torch.device = "auto",
                group: int = 0, compile: bool = False, progress: bool = True) -> list[RunOutput]:
    """The records' contents (:class:`RunOutput`) of ``configs`` (one profile's noise levels),
    all teachers trained together (in groups of ``group`` nets, 0 = all), then all students.

    Every config must share the settings that shape the nets and the data (width,
    training-set size, batch size, epochs, patience, optimiser, split, classes); the
    noise level and the temperatures may differ. ``configs``: :class:`kdlib.experiments.deep.Config`
    objects (this module reads their fields and imports no experiment); ``teacher`` and
    ``student``: the nets' specs (:data:`kdlib.vgg.SPECS` names: ``deep.TEACHER``, ``deep.STUDENT``).
    """
    dev = resolve_device(device)
    if not configs:
        raise ValueError("no configs")
    shape_keys = ("width_mult", "train_limit", "batch_size", "max_epochs", "patience", "lr", "weight_decay",
                  "split_seed", "classes", "augment", "precision")
    c0 = configs[0]
    for c in configs:
        diff = [k for k in shape_keys if getattr(c, k) != getattr(c0, k)]
        if diff:
            raise ValueError(f"configs trained together must share {diff}; {c.profile} at {c.noise_variance} differs")
    # data slots: one per (config, run)
    slot_of: dict[tuple[int, int], int] = {}
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("xtr", "ytr", "xva", "yva", "xte", "yte")}
    source: dict[str, Any] = {}
    for ci, c in enumerate(configs):
        for r in _runs(c):
            d = load_cat_dog(c.classes, noise_variance=c.noise_variance, noise_seed=r, split_seed=c.split_seed,
                             train_limit=c.train_limit, device=dev)
            source = d.source
            slot_of[(ci, r)] = len(slot_of)
            for k, t in zip(parts, (d.train.x, d.train.y, d.val.x, d.val.y, d.test.x, d.test.y)):
                parts[k].append(t)
    X = {k: _stack(v) for k, v in parts.items()}
    del parts
    tcfg = c0.train_config(seed=0)
    def train_all(jobs: list[Job], name: str, logits: torch.Tensor | None) -> list[tuple[int, GroupResult]]:
        size = group if group and group > 0 else len(jobs)
        out = []
        for i in range(0, len(jobs), size):
            chunk = jobs[i : i + size]
            res = train_group(chunk, X["xtr"], X["ytr"], X["xva"], X["yva"], X["xte"], X["yte"], tcfg,
                              c0.width_mult, teacher_logits=logits, compile=compile, progress=progress,
                              keep_train_logits=logits is None,
                              desc=f"{name} {i // size + 1}/{math.ceil(len(jobs) / size)} ({len(chunk)} nets)")
            out += [(k, res) for k in range(len(chunk))]
        return out

    t_jobs = [Job(teacher, 1000 + r, r, slot_of[(ci, r)]) for ci, c in enumerate(configs) for r in _runs(c)]
    t_res = train_all(t_jobs, "teachers", None)
    # the teachers' logits on their training sets, once per data set
    logits = torch.zeros(len(slot_of), X["xtr"].shape[1], 2, device=dev)
    teacher_rows: dict[int, dict[str, Any]] = {}
    for job, (k, res) in zip(t_jobs, t_res):
        z = res.train_logits[k]
        logits[job.slot] = z
        teacher_rows[job.slot] = _row(res, k, z, X["ytr"][job.slot])
    s_jobs: list[tuple[str, Job]] = []
    for ci, c in enumerate(configs):
        modes = [("hard", None), ("soft", float(c.temperature))]
        modes += [(f"soft T={t:g}", float(t)) for t in c.extra_temperatures]
        for r in _runs(c):
            s_jobs += [(mode, Job(student, 2000 + r, r, slot_of[(ci, r)], temp)) for mode, temp in modes]
    s_res = train_all([j for _, j in s_jobs], "students", logits)
    student_rows: dict[int, list[dict[str, Any]]] = {}
    for (mode, job), (k, res) in zip(s_jobs, s_res):
        row = {"mode": mode, **_row(res, k)}
        if job.temperature is not None:
            row["temperature"] = job.temperature
            row["label_confidence"] = round(softmax_confidence(logits[job.slot], job.temperature), 6)
        student_rows.setdefault(job.slot, []).append(row)
    t_net = build_vgg(teacher, width_mult=c0.width_mult)
    s_net = build_vgg(student, width_mult=c0.width_mult)
    trainer = (f"kdlib.grouped: nets trained together as grouped convolutions, "
               f"{'all of a kind' if not group else f'up to {group}'} per group; "
               "train_seconds = the group's wall time / its number of nets")
    outs = []
    for ci, c in enumerate(configs):
        rows, seeds = [], []
        for r in _runs(c):
            slot = slot_of[(ci, r)]
            base = {"noise_variance": c.noise_variance, "run": r}
            rows.append({**base, "model": "teacher", "mode": "hard", **teacher_rows[slot]})
            rows += [{**base, "model": "student", **row} for row in student_rows[slot]]
            seeds += [r, 1000 + r, 2000 + r]
        extra = {
            "profile": c.profile, "data_source": source, "data_notice": source_notice(source),
            "nets": {"teacher": t_net.describe(), "teacher_params": n_parameters(t_net),
                     "student": s_net.describe(), "student_params": n_parameters(s_net)},
            "noise": "additive N(0, variance) on [0,1] pixels, all three parts, not clipped; noise seed = run index",
            "seed_scheme": "noise seed r, batch order seed r, teacher init 1000+r, student init 2000+r "
                           "(all students of a run share it)",
            "trainer": trainer, "compiled": bool(compile),
            "precision": resolve_precision(c.precision, dev),
        }
        outs.append(RunOutput(rows=[_order(row) for row in rows], seeds=seeds, device=str(dev), extra=extra))
    return outs


def _runs(config: Any) -> range:
    """The run indices of a config: ``first_run .. first_run + runs - 1``."""
    return range(config.first_run, config.first_run + config.runs)


def _row(res: GroupResult, k: int, train_logits: torch.Tensor | None = None,
         y_train: torch.Tensor | None = None) -> dict[str, Any]:
    row = {
        "test_acc": round(100.0 * res.test_acc[k], 4),
        "val_acc": round(100.0 * res.best_val_acc[k], 4),
        "best_epoch": int(res.best_epoch[k]),
        "epochs_run": int(res.epochs_run[k]),
        "train_seconds": round(res.seconds / len(res.models), 2),
    }
    if train_logits is not None:
        row["train_acc"] = round(100.0 * float((train_logits.argmax(1) == y_train).float().mean()), 4)
        row["train_confidence"] = round(softmax_confidence(train_logits), 6)
    return row


_ORDER = ("noise_variance", "run", "model", "mode", "test_acc", "val_acc", "best_epoch", "epochs_run", "train_seconds")


def _order(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: row[k] for k in _ORDER}, **{k: v for k, v in row.items() if k not in _ORDER}}


if __name__ == "__main__":  # python -m kdlib.grouped: the same as python -m kdlib grouped
    from kdlib.__main__ import main as _kdlib_main

    sys.exit(_kdlib_main(["grouped", *sys.argv[1:]]))
