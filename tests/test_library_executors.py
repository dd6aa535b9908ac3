"""Executors: results as they finish, and a crashing worker costs only its own item."""

from __future__ import annotations

import os
import signal

import pytest

from underdog.library.executors import LocalPoolExecutor, SerialExecutor, WorkerCrashed

pytestmark = pytest.mark.timeout(120)


def square_or_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGSEGV)  # a real segfault in the worker
    if x == 5:
        raise MemoryError("simulated allocation failure")
    return x * x


def test_pool_survives_segfault_and_names_the_culprit():
    out = dict(LocalPoolExecutor(2).map(square_or_die, range(8)))
    assert sorted(out) == list(range(8))
    assert isinstance(out[3], WorkerCrashed)
    assert isinstance(out[5], MemoryError)
    for x in (0, 1, 2, 4, 6, 7):
        assert out[x] == x * x, x


def test_serial_executor_yields_exceptions_in_order():
    out = list(SerialExecutor().map(square_or_die, [0, 5, 2]))
    assert [x for x, _ in out] == [0, 5, 2]
    assert out[0][1] == 0 and isinstance(out[1][1], MemoryError) and out[2][1] == 4
