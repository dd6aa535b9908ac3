"""A list that lives on disk past its first few thousand items: append all, then iterate.

The scanner collects its walk and its jobs in two of these, so a catalogue of a million
files costs the driver a temporary file rather than a million objects in memory.
"""

from __future__ import annotations

import pickle
import tempfile
from typing import IO, Generic, Iterator, TypeVar

T = TypeVar("T")


class Spool(Generic[T]):
    """Append-only sequence: ``in_memory`` items in a list, the rest pickled to a temp file.

    Iterate it after appending (items come back in order); the temporary file is unlinked
    from the start and goes away with the spool.
    """

    def __init__(self, in_memory: int = 4096):
        self._head: list[T] = []
        self._in_memory = in_memory
        self._file: IO[bytes] | None = None
        self._n = 0

    def append(self, item: T) -> None:
        if len(self._head) < self._in_memory:
            self._head.append(item)
        else:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="underdog-spool-")
            pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        f = self._file
        if f is None:
            return
        f.flush()
        f.seek(0)
        unpickler = pickle.Unpickler(f)
        while True:
            try:
                yield unpickler.load()
            except EOFError:
                return
        # (appending while iterating is not supported)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
