"""Executors: run ``fn`` over items and yield ``(item, result)`` as each one finishes.

The scanner only sees ``Executor.map``: a local process pool, this process, or Ray tasks on
a cluster (``RayExecutor``, the ``ray`` extra) all look the same to it. ``fn`` should return its own error values; an exception escaping ``fn`` is
yielded as the result, and a worker process that dies (segfault, OOM kill) yields a
``WorkerCrashed`` for the file it was working on, while the rest go on in a fresh pool.

No worker outlives the scan: leaving ``map`` early (an exception, an interrupt, the caller
stopping) terminates the workers at once, and each worker watches the scan process and exits
within a second of its death (even by kill -9); the forkserver and the resource tracker
then exit too. ``stop_on_signals`` turns SIGTERM and SIGHUP into an ``Interrupted``
exception, so they unwind like Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar

from ..errors import UnderdogError

T = TypeVar("T")
R = TypeVar("R")


class WorkerCrashed(UnderdogError):
    """The worker process died while running ``fn`` on this item (its message is the
    file's failure reason)."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (SIGINT stays a plain KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)):
    """Raise ``Interrupted`` in the main thread on these signals, for the block's duration.

    Cleanup then runs as for Ctrl-C (workers stopped, the open transaction rolled back).
    A no-op outside the main thread, where Python cannot install handlers.
    """
    def handler(signum, frame):
        raise Interrupted(signum)

    old = {}
    try:
        for s in signums:
            try:
                old[s] = signal.signal(s, handler)
            except ValueError:  # not the main thread
                break
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Executor(Protocol):
    jobs: int

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, fn(item))`` in completion order; exceptions are yielded, not raised."""
        ...


class SerialExecutor:
    """Runs every item in this process, one after the other (no crash isolation)."""

    jobs = 1

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        for item in items:
            try:
                yield item, fn(item)
            except Exception as exc:  # MemoryError included; KeyboardInterrupt propagates
                yield item, exc


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _worker_init(owner_pid: int) -> None:
    # Ctrl-C is the parent's business; one BLAS thread per worker (the pool is the parallelism).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_gone, args=(owner_pid,), daemon=True,
                     name="underdog-owner-watch").start()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc: os.kill said it exists


def _exit_when_gone(owner_pid: int, period_s: float = 0.5) -> None:
    """Worker thread: end this worker when the process that owns the pool is gone.

    A worker's parent is the forkserver, which lives as long as its workers do, so the
    kernel's parent-death signal cannot help; polling the owner can (even after kill -9).
    """
    while _alive(owner_pid):
        time.sleep(period_s)
    os._exit(1)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's worker processes now (SIGTERM, then SIGKILL after 2 s)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)


class _Feed:
    """The part of a deque a pool uses (popleft, appendleft, truth) over a lazy iterator."""

    def __init__(self, items: Iterable):
        self._it = iter(items)
        self._back: deque = deque()

    def __bool__(self) -> bool:
        if not self._back:
            for item in self._it:
                self._back.append(item)
                break
        return bool(self._back)

    def popleft(self):
        if not self:
            raise IndexError("pop from an empty feed")
        return self._back.popleft()

    def appendleft(self, item) -> None:
        self._back.appendleft(item)


class LocalPoolExecutor:
    """A local process pool of ``jobs`` workers (forkserver start: safe with threads).

    At most ``jobs`` items are in flight, so when the pool breaks the suspects are known:
    each is re-run alone in a one-worker pool, which names the culprit exactly.
    """

    def __init__(self, jobs: int | None = None):
        self.jobs = max(1, int(jobs or default_jobs()))
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        todo = _Feed(items)  # pulled as workers free up: a streamed walk stays streamed
        suspects: deque = deque()
        while todo or suspects:
            if suspects:
                yield from self._drain(fn, suspects, 1, None)
            else:
                yield from self._drain(fn, todo, self.jobs, suspects)

    def _drain(self, fn, queue: deque, workers: int, suspects: deque | None):
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=self._ctx,
                                   initializer=_worker_init, initargs=(os.getpid(),))
        running: dict[Future, Any] = {}
        try:
            while queue or running:
                while queue and len(running) < workers:
                    item = queue.popleft()
                    try:
                        running[pool.submit(fn, item)] = item
                    except BrokenProcessPool:
                        queue.appendleft(item)
                        break
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = []
                for fut in done:
                    item = running.pop(fut)
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken.append(item)
                    elif exc is not None:
                        yield item, exc
                    else:
                        yield item, fut.result()
                if broken:
                    # Everything still running is lost with the pool.
                    for fut, item in list(running.items()):
                        exc = fut.exception() if fut.done() else None
                        if fut.done() and exc is None:
                            yield item, fut.result()
                        else:
                            broken.append(item)
                    running.clear()
                    if suspects is None or len(broken) == 1:
                        for item in broken:
                            yield item, WorkerCrashed(
                                "worker process crashed (segfault or killed, e.g. out of memory)")
                    else:
                        suspects.extend(broken)
                    return
        finally:
            if running:  # leaving early (interrupt, error, caller stopped): stop workers now
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- Ray

# Test hook (set in the environment of the Ray workers): a directory holding kill requests.
# A task whose item's path has a request claims it (rename) and SIGKILLs its own worker
# process, so the retry finds none: a real worker death, once, for tests of retries.
KILL_ONCE_ENV = "UNDERDOG_TEST_KILL_ONCE_DIR"


def kill_request_name(path: str) -> str:
    """File name of the kill request for ``path`` under ``$UNDERDOG_TEST_KILL_ONCE_DIR``."""
    return hashlib.sha1(os.fsencode(path)).hexdigest() + ".kill"


def _kill_once_hook(item: Any) -> None:
    d = os.environ.get(KILL_ONCE_ENV)
    path = getattr(item, "path", None)
    if not d or not isinstance(path, str):
        return
    req = os.path.join(d, kill_request_name(path))
    try:
        os.rename(req, f"{req}ed-{os.getpid()}")  # claimed: the retry will not find it
    except OSError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _ray_call(fn: Callable[[T], R], item: T) -> R:
    """The body of one Ray task (runs in a Ray worker)."""
    _kill_once_hook(item)
    return fn(item)


class RayExecutor:
    """Ray tasks, one per item, on a Ray cluster (or a local one started for the scan).

    Files are read where they are: every node must see the same paths (a shared
    filesystem). At most ``in_flight`` tasks are submitted at once (default: twice the
    cluster's CPUs) and ``items`` is pulled only as tasks finish, so the driver holds a
    bounded window however long the walk. A task whose worker dies (killed, OOM, node lost)
    is resubmitted by Ray up to ``max_retries`` times, and its result is yielded once;
    past that it is yielded as ``WorkerCrashed``.

    ``address``: None starts a private local Ray for the duration of ``map`` (``jobs``
    CPUs), unless this process is already connected to one; "auto" joins the cluster of
    this machine; "ray://host:port" goes through the Ray Client.
    """

    def __init__(self, address: str | None = None, jobs: int | None = None,
                 in_flight: int | None = None, max_retries: int = 3):
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise UnderdogError("--engine ray needs Ray: pip install 'underdog[ray]'") from exc
        self.address = address
        self.jobs = max(1, int(jobs or default_jobs()))
        self.in_flight = in_flight
        self.max_retries = max_retries

    @contextlib.contextmanager
    def _connected(self):
        import ray

        if ray.is_initialized():
            yield ray
            return
        kw: dict[str, Any] = dict(logging_level="WARNING", log_to_driver=False)
        if self.address:
            kw["address"] = self.address
        else:
            # Ray nices its workers to 15 by default: on a busy machine they would then
            # lose to every other process, where the local pool's workers do not.
            kw.update(num_cpus=self.jobs, include_dashboard=False,
                      _system_config={"worker_niceness": 0})
        try:
            ray.init(**kw)
        except Exception as exc:  # ConnectionError, a bad address, a version mismatch
            raise UnderdogError(f"cannot start or reach Ray ({self.address or 'local'}): "
                                f"{str(exc).splitlines()[0] if str(exc) else exc}") from exc
        try:
            yield ray
        finally:
            ray.shutdown()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | BaseException]]:
        with self._connected() as ray:
            from ray import exceptions as rex

            cpus = int(ray.cluster_resources().get("CPU", self.jobs) or self.jobs)
            limit = max(1, int(self.in_flight or 2 * cpus))
            task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_ray_call)
            fn_ref = ray.put(fn)
            feed = iter(items)
            running: dict[Any, Any] = {}
            try:
                end = object()
                while True:
                    while len(running) < limit:  # back-pressure: pull only to refill
                        item = next(feed, end)
                        if item is end:
                            break
                        running[task.remote(fn_ref, item)] = item
                    if not running:
                        break
                    done, _ = ray.wait(list(running), num_returns=1)
                    for ref in done:
                        item = running.pop(ref)
                        try:
                            yield item, ray.get(ref)
                        except rex.RayTaskError as exc:  # fn raised: its own exception
                            cause = getattr(exc, "cause", None)
                            yield item, cause if isinstance(cause, BaseException) else exc
                        except rex.RayError as exc:  # worker/node died past max_retries
                            yield item, WorkerCrashed(
                                f"Ray worker lost ({exc.__class__.__name__}) after "
                                f"{self.max_retries} retries")
            finally:
                for ref in running:  # leaving early: stop what is still running
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)


ENGINES = ("local", "ray")


def make_executor(jobs: int | None, engine: str = "local",
                  address: str | None = None) -> Executor:
    """``jobs`` = 0 → in-process serial executor; otherwise a local pool (None = all cores).

    ``engine`` "ray" → :class:`RayExecutor` at ``address`` (``jobs`` CPUs when it starts
    a local Ray).
    """
    if engine == "ray":
        return RayExecutor(address, jobs)
    if jobs is not None and jobs <= 0:
        return SerialExecutor()
    return LocalPoolExecutor(jobs)
