"""Sweeps: many configurations of one experiment through the results store, on Dask.

:func:`run_sweep` takes an experiment (a module or module-level object with ``NAME``,
``Config`` and ``run(config) -> RunOutput``, see :mod:`kdlib.experiments`) and a list of
configurations, and returns their records in the configurations' order. A configuration
the store already holds is read, never recomputed (unless ``recompute=True``); when the
store holds them all, no cluster is started at all, so a chapter that calls this on
every execution costs one file read per record.

Where the missing records are computed (``executor``):

``"serial"``
    today's in-process loop, :func:`kdlib.results.load_or_run` per configuration.
``"local"`` (the default)
    a :class:`dask.distributed.LocalCluster` on this machine: one worker process per
    core (one in all when a GPU is visible, which does the parallel work itself), or
    ``workers``; each worker has one thread, and torch one thread too
    (``OMP_NUM_THREADS=1``), so that CPU floats repeat from run to run. When the
    environment variable ``KDLIB_DASK_SCHEDULER`` is set (e.g. ``tcp://host:8786``),
    ``"local"`` connects to that scheduler instead, so one variable sends every
    chapter's sweep to a cluster without editing a notebook.
a scheduler address (``"tcp://host:8786"``)
    an existing Dask cluster (``dask scheduler`` and ``dask worker ADDRESS``, see the
    README); its workers must be able to import ``kdlib`` and the experiment's module.

Each missing configuration is one Dask task. Only plain picklable values cross the
wire: the experiment travels as its import path (module name, and attribute name for an
object defined at the top of a module) and is imported in the worker; the
configuration is its frozen dataclass. The task calls :func:`~kdlib.results.load_or_run`
itself, on the worker, into a scratch store, so the record is exactly the one a serial
run writes, with the provenance of the machine that computed it (its device, its git
commit, the wall time of the task); the task returns the record's text to the client.

**The client writes every record**, atomically (temporary file in the record's folder,
``fsync``, ``os.replace``), as each task completes (``as_completed``), and checks it with
:meth:`ResultStore.read <kdlib.results.ResultStore.read>`. Why the client and not the
workers: workers then need no shared filesystem (a cloud or batch cluster rarely has one
that is also the repository's ``results/``), a worker killed mid-task cannot leave
anything in the store, and there is one writer per sweep. A sweep interrupted at any point
keeps every record written so far, and rerunning it computes only the rest. Two sweeps
over overlapping configurations may both compute a shared one (on one scheduler the
task's name, ``NAME-key``, is shared, so Dask computes it once for both); each write is a
whole file replacing a whole file, so the store holds it once and never half-written.
What an experiment caches beside its records (Table 1's trained teachers,
:mod:`kdlib.teachers`) goes to the worker's own default store.

Faults: a task whose worker dies (killed, out of memory) is rescheduled by Dask on another
worker, up to ``distributed.scheduler.allowed-failures`` deaths (Dask's default, 3); a
task that raises is not retried (the code is deterministic: it would raise again), the
other tasks run on and their records are written, and then :class:`SweepError` names each
failed configuration with its message (with ``executor="serial"`` the exception propagates
at once, as from :func:`~kdlib.results.load_or_run`). Every configuration is validated (rebuilt through
the experiment's ``Config``, whose checks run, and hashed) before anything is submitted.

Before anything is computed (:func:`check_before_running`): the results folder must be a
folder this process can write in or create (the message names ``KDLIB_RESULTS``), every
configuration's device one of ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and present here with a
serial or local executor, ``workers`` positive, and a scheduler must answer Dask's identity
call within :data:`SCHEDULER_TIMEOUT_S` seconds (the message names the address, whether it came
from ``$KDLIB_DASK_SCHEDULER`` or the executor parameter, and how to start one); else
:class:`SweepSetupError`, one line, nothing computed. Output: one progress bar per sweep
(``progress=False``: none); the experiments' own bars are off inside a sweep (:func:`quiet_bars`).

:func:`run_sweeps` is one sweep over several lists of configurations (a chapter's table,
curve and settings search, say), returned list by list, so that all the missing records
of a chapter run together on one cluster. :func:`local_cluster` is the cluster that
``"local"`` starts; a test (or a session of several sweeps) can start one, pass its
``scheduler_address`` as the executor, and so share its workers.

The executor is no part of a record's key (nor of its ``Config``): the same configuration
is the same record whichever executor computed it, and a chapter switched to another
executor still finds every stored record. What differs is provenance (the device string
names the worker's threads) and, between machines or thread counts, float rounding.

Command line: ``python -m kdlib sweep table1 --set lr=16,64 --set dataset=full,reduced``
runs the Cartesian product over the experiment's default ``Config`` (see :func:`main`).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib
import itertools
import json
import os
import sys
import tempfile
from types import ModuleType
from typing import Any, Iterable, Iterator, Mapping, Sequence

from kdlib.results import ResultStore, StoreError, atomic_write, check_record_digest, config_key, load_or_run, loads

SCHEDULER_ENV = "KDLIB_DASK_SCHEDULER"
EXECUTORS = ("serial", "local")


class SweepError(RuntimeError):
    """One or more tasks of a sweep raised; the records of the others are in the store."""

    def __init__(self, message: str, failures: list[tuple[Any, BaseException]]) -> None:
        super().__init__(message)
        self.failures = failures


# --------------------------------------------------------------------------- experiments


def experiment_ref(experiment: Any) -> tuple[str, str | None]:
    """``(module name, attribute or None)``: how a worker imports ``experiment``.

    A module travels as its name; an object defined at the top of a module as the module its
    ``run`` (or ``Config``) is defined in plus the attribute that holds it there.
    """
    for attr in ("NAME", "Config", "run"):
        if not hasattr(experiment, attr):
            raise TypeError(f"an experiment needs NAME, Config and run; {experiment!r} lacks {attr}")
    if isinstance(experiment, ModuleType):
        modname, attr_name = experiment.__name__, None
    else:
        modname, attr_name = None, None
        # the module that defines the object (a namespace may name it as ``__module__``; a class
        # instance gives its class's), then the modules of its run and Config
        candidates = (getattr(experiment, "__module__", None), getattr(experiment.run, "__module__", None),
                      getattr(experiment.Config, "__module__", None))
        for candidate in candidates:
            module = sys.modules.get(candidate or "")
            attr_name = next((k for k, v in vars(module).items() if v is experiment), None) if module else None
            if attr_name is not None:
                modname = candidate
                break
        if attr_name is None:
            raise TypeError(
                f"experiment {experiment.NAME!r} is neither a module nor an object defined at the top "
                f"of a module, so a worker cannot import it"
            )
    if modname == "__main__":
        raise TypeError(f"experiment {experiment.NAME!r} lives in __main__; put it in an importable module")
    return modname, attr_name


def import_experiment(ref: tuple[str, str | None]) -> Any:
    """The experiment named by :func:`experiment_ref` (imported, in a worker)."""
    modname, attr_name = ref
    module = importlib.import_module(modname)
    return module if attr_name is None else getattr(module, attr_name)


def validate(experiment: Any, config: Any) -> Any:
    """``config`` as an instance of ``experiment.Config``, its checks run again.

    A mapping is passed to ``Config(**mapping)``; a ``Config`` is rebuilt from its fields
    (so a value set by hand after construction is checked too). Raises the ``Config``'s
    own error (``ValueError``, ``TypeError``) for a bad value.
    """
    cls = experiment.Config
    if isinstance(config, Mapping):
        config = cls(**config)
    elif not isinstance(config, cls):
        raise TypeError(f"{experiment.NAME}: a config must be a {cls.__name__} or a mapping, got {type(config).__name__}")
    elif dataclasses.is_dataclass(config):
        config = dataclasses.replace(config)
    config_key(experiment.NAME, config)  # raises for a value JSON cannot hold
    if isinstance(getattr(config, "device", None), str):  # a device's name; whether it is here: before computing
        from kdlib.validate import device

        device(f"{experiment.NAME} device", config.device, here=False)
    return config


# --------------------------------------------------------------------------- quiet output


@contextlib.contextmanager
def quiet_bars() -> Iterator[None]:
    """Within it, every ``tqdm`` bar is created disabled: an experiment's own bars (per epoch, per
    student bank) stay off inside a sweep, whose one bar counts the records; on a worker they
    would interleave on the terminal and in the notebook."""
    from tqdm import tqdm

    original = tqdm.__init__

    def disabled(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    tqdm.__init__ = disabled
    try:
        yield
    finally:
        tqdm.__init__ = original


def _advance(bar: Any) -> None:
    """One more record on the sweep's bar. The last one only sets the count, so that the bar's
    final line is drawn once, by ``close`` (an ``update`` to 100 % and then ``close`` draw it twice
    where the output keeps every line: a log file, a notebook's stored output)."""
    if bar.total is not None and bar.n + 1 >= bar.total:
        bar.n = bar.total
    else:
        bar.update(1)


@contextlib.contextmanager
def _quiet_shutdown() -> Iterator[None]:
    """Dask's nannies log "Worker process still alive after 4.0 seconds, killing" when a worker
    takes longer than that to exit at shutdown (a busy machine); the sweep's records are all
    written by then, so the warning says nothing: shutdown logs only errors."""
    import logging

    loggers = [logging.getLogger(n) for n in ("distributed.nanny", "distributed.process", "distributed.worker")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --------------------------------------------------------------------------- tasks


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def compute_record(ref: tuple[str, str | None], config: Any) -> str:
    """The Dask task: the record of ``config`` as JSON text, computed where this runs.

    :func:`~kdlib.results.load_or_run` writes it into a scratch store (so its form,
    provenance and wall time are exactly those of a serial run on this machine); the text
    goes back to the client, which writes it into the real store.
    """
    import torch

    torch.set_num_threads(_threads())  # 1 on a LocalCluster; a remote worker's $OMP_NUM_THREADS
    experiment = import_experiment(ref)
    with tempfile.TemporaryDirectory(prefix="kdlib-sweep-") as tmp, quiet_bars():
        scratch = ResultStore(tmp)
        load_or_run(experiment, config, store=scratch, recompute=True)
        return scratch.path(experiment.NAME, config).read_text()


def write_record_text(store: ResultStore, name: str, config: Any, text: str) -> dict[str, Any]:
    """Write a record's JSON text atomically at its place in ``store``; return it, checked.

    The text must parse, hash to the configuration's key and match its digest (else
    :class:`StoreError`, nothing written). Temporary file in the same folder, ``fsync``, ``os.replace``: a crash
    leaves either the old file or the new one, never a part.
    """
    path = store.path(name, config)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"a worker sent a record for {path} that does not parse: {exc}") from exc
    if not isinstance(record, dict) or record.get("key") != path.stem or record.get("experiment") != name:
        raise StoreError(
            f"a worker sent a record for another key or experiment than {path} "
            f"(is the worker's kdlib the same version as this one?)"
        )
    try:  # its digest, before it is written (a worker with an older kdlib writes none)
        check_record_digest(path, loads(text))
    except StoreError as exc:
        raise StoreError(f"a worker sent a record that fails its digest (is the worker's kdlib the same "
                         f"version as this one?): {exc}") from None
    atomic_write(path, lambda fh: fh.write(text))
    return store.read(path, expect=(name, config))


# --------------------------------------------------------------------------- checks before anything runs

#: seconds to reach a scheduler before the sweep is refused
SCHEDULER_TIMEOUT_S = 10


class SweepSetupError(ValueError):
    """The sweep cannot start (results folder, device, workers, scheduler); nothing was computed."""


def _start_hint(address: str) -> str:
    return (f"Start one with `dask scheduler` (and workers with `dask worker {address}`), "
            f"or unset ${SCHEDULER_ENV} and use the executor 'local' for a cluster on this machine.")


def scheduler_address(address: str, origin: str) -> str:
    """``address`` if it is a Dask address with a host and a port (``tcp://host:8786``); ``origin``
    says where it came from (``$KDLIB_DASK_SCHEDULER``, the executor parameter) in the message."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        parse_host_port(parse_address(address)[1])
    except (ValueError, TypeError) as exc:
        raise SweepSetupError(
            f"{origin} = {address!r} is not a scheduler address such as tcp://host:8786 ({exc}). "
            + _start_hint("tcp://host:8786")
        ) from None
    return address


def check_scheduler(address: str, origin: str, timeout: float = SCHEDULER_TIMEOUT_S) -> None:
    """Ask the scheduler at ``address`` who it is (Dask's ``identity`` call), within ``timeout``
    seconds in all, else :class:`SweepSetupError` naming the address, where it came from
    (``origin``) and how to start one. Runs in a thread of its own, so it works inside a
    notebook's running event loop too."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import socket

    from distributed.comm import connect, parse_address
    from distributed.comm.addressing import parse_host_port

    protocol, location = parse_address(scheduler_address(address, origin))
    if protocol in ("tcp", "tls"):  # a refused port answers at once, without Dask's retries
        try:
            socket.create_connection(parse_host_port(location), timeout=timeout).close()
        except OSError as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise SweepSetupError(f"no Dask scheduler at {address} (from {origin}): {why}. {_start_hint(address)}") from None

    async def identity() -> Any:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(identity(), timeout)

    with ThreadPoolExecutor(1) as pool:
        try:
            reply = pool.submit(asyncio.run, bounded()).result()
        except Exception as exc:  # refused, timed out, or something that does not speak Dask's protocol
            if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
                why = f"{type(exc).__name__}: {exc}" if str(exc) else "no answer"
            else:
                why = "what answers there does not speak Dask's protocol"
            raise SweepSetupError(
                f"no Dask scheduler answers at {address} (from {origin}) within {timeout:g} s ({why}). "
                + _start_hint(address)
            ) from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise SweepSetupError(f"{address} (from {origin}) answers, but not as a Dask scheduler. " + _start_hint(address))


def check_workers(workers: Any) -> None:
    """``workers`` is None (one per core) or a positive integer."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepSetupError(f"workers must be a positive integer (or None for one per core), got {workers!r}")


def check_before_running(experiment: Any, todo: Sequence[Any], store: ResultStore, where: str,
                         origin: str, workers: int | None) -> None:
    """What a sweep checks before it computes ``todo``: the results folder can be written (or
    created), every configuration's device exists here (with a serial or local executor), the
    workers are a positive number and the scheduler answers. :class:`SweepSetupError` else."""
    from kdlib.results import RESULTS_ENV
    from kdlib.validate import device, writable_folder

    env = os.environ.get(RESULTS_ENV)
    what = f"the results folder (${RESULTS_ENV}={env!r})" if env else f"the results folder (set ${RESULTS_ENV} to choose another)"
    try:
        writable_folder(store.root / experiment.NAME, what)
        for cfg in todo:
            if isinstance(getattr(cfg, "device", None), str):
                device(f"{experiment.NAME} device", cfg.device, here=where in EXECUTORS)
    except ValueError as exc:
        raise SweepSetupError(str(exc)) from None
    if where == "local":
        check_workers(workers)
    elif where != "serial":
        check_scheduler(where, origin)


def executor_origin(executor: Any) -> str:
    """Where :func:`resolve_executor` found the scheduler address of ``executor``."""
    if isinstance(executor, str) and executor.strip() == "local" and os.environ.get(SCHEDULER_ENV, "").strip():
        return f"${SCHEDULER_ENV}"
    return "the executor parameter"


# --------------------------------------------------------------------------- clusters


def default_workers() -> int:
    """One worker per core; one in all when torch sees a GPU (it parallelises itself)."""
    import torch

    if torch.cuda.is_available():
        return 1
    return os.cpu_count() or 1


def resolve_executor(executor: str) -> str:
    """``"serial"``, ``"local"`` or a scheduler address; ``"local"`` becomes
    ``$KDLIB_DASK_SCHEDULER`` when that is set."""
    if not isinstance(executor, str) or not executor.strip():
        raise ValueError(f"executor must be 'serial', 'local' or a scheduler address, got {executor!r}")
    executor = executor.strip()
    if executor == "local" and os.environ.get(SCHEDULER_ENV, "").strip():
        return scheduler_address(os.environ[SCHEDULER_ENV].strip(), f"${SCHEDULER_ENV}")
    if "://" in executor:
        return scheduler_address(executor, "the executor parameter")
    if executor in EXECUTORS:
        return executor
    raise ValueError(
        f"executor must be 'serial', 'local' or a scheduler address such as tcp://host:8786, got {executor!r}"
    )


_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
#: the user's own setting, read before any nanny of this process could set it
_USER_MALLOC_TRIM = os.environ.get(_MALLOC_TRIM)


def local_cluster(workers: int | None = None) -> Any:
    """The :class:`~dask.distributed.LocalCluster` of ``executor="local"``: ``workers``
    worker processes (default :func:`default_workers`), one thread each, torch and BLAS
    pinned to one thread (``OMP_NUM_THREADS=MKL_NUM_THREADS=1``), listening on 127.0.0.1
    only, no dashboard. Use it as a context manager; its ``scheduler_address`` can be
    passed as an ``executor``, so several sweeps can share one cluster."""
    import dask.config
    from dask.distributed import LocalCluster

    n = workers if workers is not None else default_workers()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    # Dask's nannies start their workers with MALLOC_TRIM_THRESHOLD_=65536, so that freed memory
    # goes back to the OS at once. Setting it also fixes glibc's mmap threshold at 128 KiB: every
    # tensor above that is mapped, faulted in page by page and unmapped again, which made a
    # training loop that allocates megabyte arrays up to seven times slower than in a plain
    # process. Our workers run torch, whose arrays are large and short-lived: they get glibc's
    # defaults, unless the user set the variable before kdlib was imported.
    if _USER_MALLOC_TRIM is None:
        os.environ.pop(_MALLOC_TRIM, None)  # put there by an earlier nanny of this process
    with dask.config.set({f"distributed.nanny.pre-spawn-environ.{_MALLOC_TRIM}": _USER_MALLOC_TRIM}):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )


class _Cluster:
    """A Dask client on a LocalCluster it owns, or on an existing scheduler."""

    def __init__(self, executor: str, workers: int | None) -> None:
        from dask.distributed import Client

        self.cluster = None
        if executor == "local":
            self.cluster = local_cluster(workers)
            try:
                self.client = Client(self.cluster, set_as_default=False)
            except BaseException:
                self.cluster.close()
                raise
        else:
            self.client = Client(executor, set_as_default=False, timeout=SCHEDULER_TIMEOUT_S)

    def close(self) -> None:
        with _quiet_shutdown():
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


# --------------------------------------------------------------------------- sweeps


def _describe(config: Any) -> str:
    return repr(config)


def run_sweep(
    experiment: Any,
    configs: Iterable[Any],
    *,
    executor: str = "local",
    store: ResultStore | None = None,
    progress: bool = True,
    workers: int | None = None,
    recompute: bool = False,
) -> list[dict[str, Any]]:
    """The records of ``configs`` (in their order), computing the missing ones.

    ``experiment``: a module or module-level object with ``NAME``, ``Config``, ``run``, and
    optionally ``cost_hint(config) -> float``, a relative cost: the missing configurations are
    then submitted longest first (with decreasing Dask priorities), which keeps the sweep's
    wall time near the total divided by the workers when the costs are uneven.
    ``configs``: ``Config`` instances or mappings of ``Config`` fields, all validated
    before anything runs. ``executor``: ``"serial"``, ``"local"`` (a LocalCluster, or
    ``$KDLIB_DASK_SCHEDULER`` when set) or a scheduler address. ``store``: the results
    store (default :class:`~kdlib.results.ResultStore`). ``workers``: LocalCluster size
    (default one per core). ``recompute``: compute every configuration again and
    overwrite its record. Raises :class:`SweepSetupError` before computing anything when the
    results folder, a device, ``workers`` or the scheduler is unusable, and :class:`SweepError`
    after the sweep when tasks raised. ``progress``: the sweep's one bar (the experiments' own
    bars are always off inside a sweep).
    """
    from tqdm import tqdm

    store = store or ResultStore()
    name = experiment.NAME
    configs = [validate(experiment, c) for c in configs]
    where = resolve_executor(executor)
    ref = experiment_ref(experiment) if where != "serial" else None

    keys = [config_key(name, c) for c in configs]
    records: dict[str, dict[str, Any]] = {}
    todo: dict[str, Any] = {}
    for key, cfg in zip(keys, configs):
        if key in records or key in todo:
            continue
        held = None if recompute else store.load(name, cfg)
        if held is not None:
            records[key] = held
        else:
            todo[key] = cfg
    if not todo:
        return [records[k] for k in keys]
    check_before_running(experiment, list(todo.values()), store, where, executor_origin(executor), workers)
    hint = getattr(experiment, "cost_hint", None)
    if hint is not None:  # longest first, so that the last task to start is a short one
        todo = dict(sorted(todo.items(), key=lambda kv: -float(hint(kv[1]))))

    bar = tqdm(total=len(todo), desc=f"{name} sweep ({where})", unit="record", disable=not progress)
    try:
        if where == "serial":
            for key, cfg in todo.items():
                with quiet_bars():
                    records[key] = load_or_run(experiment, cfg, store=store, recompute=True)
                _advance(bar)
        else:
            failures = _run_on_dask(where, workers, ref, name, todo, store, records, bar)
            if failures:
                lines = [f"{len(failures)} of {len(todo)} {name} configs failed (the other records are stored):"]
                lines += [f"  {_describe(cfg)}: {type(exc).__name__}: {exc}" for cfg, exc in failures]
                raise SweepError("\n".join(lines), failures) from failures[0][1]
    finally:
        bar.close()
    return [records[k] for k in keys]


def run_sweeps(experiment: Any, groups: Sequence[Iterable[Any]], **kwargs: Any) -> list[list[dict[str, Any]]]:
    """One :func:`run_sweep` over several lists of configurations of one experiment.

    Returns one list of records per group, each in its group's order: with ``groups =
    [g_1, ..., g_k]`` the result is ``[records(g_1), ..., records(g_k)]``, computed as the
    single sweep over ``g_1 + ... + g_k`` (so the missing records of every group run on
    one cluster, together, and a configuration in several groups is computed once).
    ``kwargs`` are those of :func:`run_sweep`.
    """
    groups = [list(g) for g in groups]
    flat = run_sweep(experiment, [c for g in groups for c in g], **kwargs)
    out: list[list[dict[str, Any]]] = []
    start = 0
    for g in groups:
        out.append(flat[start:start + len(g)])
        start += len(g)
    return out


def _run_on_dask(
    where: str,
    workers: int | None,
    ref: tuple[str, str | None],
    name: str,
    todo: dict[str, Any],
    store: ResultStore,
    records: dict[str, dict[str, Any]],
    bar: Any,
) -> list[tuple[Any, BaseException]]:
    """Submit ``todo`` (key -> config), write each record as it completes into ``records``
    and ``store``; return the (config, exception) of the tasks that failed."""
    from dask.distributed import as_completed

    cluster = _Cluster(where, workers)
    failures: list[tuple[Any, BaseException]] = []
    try:
        futures = {}
        for rank, (key, cfg) in enumerate(todo.items()):  # earlier in todo: started earlier
            fut = cluster.client.submit(compute_record, ref, cfg, key=f"{name}-{key}", pure=False, retries=0,
                                        priority=len(todo) - rank)
            futures[fut] = key
        for fut in as_completed(list(futures), loop=cluster.client.loop):
            key = futures[fut]
            cfg = todo[key]
            if fut.status == "finished":
                records[key] = write_record_text(store, name, cfg, fut.result())
            else:  # "error" (it raised, or its workers kept dying: KilledWorker) or "cancelled"
                try:
                    exc = fut.exception()
                except Exception as lost:  # a cancelled future has no exception of its own
                    exc = lost
                failures.append((cfg, exc))
                bar.write(f"{name}: {_describe(cfg)} failed: {type(exc).__name__}: {exc}")
            fut.release()
            _advance(bar)
    finally:
        cluster.close()
    return failures


# --------------------------------------------------------------------------- command line


def split_values(text: str) -> list[str]:
    """Split ``text`` at the commas outside brackets and quotes: ``"[4,6],[2]"`` gives two."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A Python literal where ``text`` is one (lists become tuples), ``inf`` as a float,
    else the text itself: ``"16"`` -> 16, ``"[4,6]"`` -> (4, 6), ``"full"`` -> "full"."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.strip().lower() in ("inf", "+inf", "-inf", "infinity", "-infinity"):
            return float(text)
        return text
    return tuple(value) if isinstance(value, list) else value


def product_configs(experiment: Any, settings: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    """The Cartesian product of ``settings`` (field, values) over the default ``Config``."""
    fields = [f.name for f in dataclasses.fields(experiment.Config)]
    for field, _ in settings:
        if field not in fields:
            raise ValueError(f"{experiment.NAME} has no config field {field!r}; its fields are: {', '.join(fields)}")
    names = [f for f, _ in settings]
    combos = itertools.product(*(values for _, values in settings)) if settings else [()]
    return [validate(experiment, dict(zip(names, combo))) for combo in combos]


def _parse_set(text: str) -> tuple[str, list[Any]]:
    field, sep, values = text.partition("=")
    if not sep or not field.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"--set wants FIELD=VALUE[,VALUE...], got {text!r}")
    return field.strip(), [parse_value(v) for v in split_values(values)]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kdlib sweep EXPERIMENT --set FIELD=V1,V2 ... [--executor EXECUTOR]`` (also
    ``python -m kdlib.sweep``); the executor follows :mod:`kdlib.registry`'s one rule."""
    from kdlib import registry

    parser = argparse.ArgumentParser(
        prog="python -m kdlib.sweep",
        description="Compute (or read) the records of a Cartesian product of configurations of one experiment.",
        epilog=f"Without --executor, the sweep runs on ${SCHEDULER_ENV} when set, else on a local Dask cluster.",
    )
    parser.add_argument("experiment", help="an experiment NAME (e.g. table1, margin, deep)")
    parser.add_argument("--set", dest="settings", action="append", type=_parse_set, default=[], metavar="FIELD=V1,V2",
                        help="values of one Config field (Python literals, e.g. widths=[4,6],[2]); repeatable")
    registry.add_executor_argument(parser)
    parser.add_argument("--workers", type=int, default=None, help="local cluster size (default: one per core)")
    parser.add_argument("--recompute", action="store_true", help="compute every config again and overwrite its record")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    modules = registry.experiment_modules()
    if args.experiment not in modules:
        parser.error(f"unknown experiment {args.experiment!r}; known: {', '.join(sorted(modules))}")
    experiment = modules[args.experiment]
    try:
        configs = product_configs(experiment, args.settings)
        executor = resolve_executor(args.executor)
        check_workers(args.workers)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    store = ResultStore()
    held = sum(1 for c in configs if store.path(experiment.NAME, c).exists()) if not args.recompute else 0
    print(f"{experiment.NAME}: {len(configs)} configs, {held} already stored, executor {executor}", flush=True)
    try:
        records = run_sweep(experiment, configs, executor=executor, store=store, progress=not args.no_progress,
                            workers=args.workers, recompute=args.recompute)
    except SweepError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (SweepSetupError, StoreError) as exc:  # refused before computing; a bad stored record
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    for cfg, rec in zip(configs, records):
        print(store.path(experiment.NAME, cfg))
    print(f"{len(records)} records in {store.root / experiment.NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
