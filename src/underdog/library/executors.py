"""Executors: run ``fn`` over items and yield ``(item, result)`` as each one finishes.

The scanner only sees ``Executor.map``, so a distributed engine can be added later without
touching it. ``fn`` should return its own error values; an exception escaping ``fn`` is
yielded as the result, and a worker process that dies (segfault, OOM kill) yields a
``WorkerCrashed`` for the file it was working on, while the rest go on in a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerCrashed(Exception):
    """The worker process died while running ``fn`` on this item."""


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


def _worker_init() -> None:
    # Ctrl-C is the parent's business; one BLAS thread per worker (the pool is the parallelism).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


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
        todo: deque = deque(items)
        suspects: deque = deque()
        while todo or suspects:
            if suspects:
                yield from self._drain(fn, suspects, 1, None)
            else:
                yield from self._drain(fn, todo, self.jobs, suspects)

    def _drain(self, fn, queue: deque, workers: int, suspects: deque | None):
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=self._ctx,
                                   initializer=_worker_init)
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
            pool.shutdown(wait=not running, cancel_futures=True)


def make_executor(jobs: int | None) -> Executor:
    """``jobs`` = 0 → in-process serial executor; otherwise a local pool (None = all cores)."""
    if jobs is not None and jobs <= 0:
        return SerialExecutor()
    return LocalPoolExecutor(jobs)
