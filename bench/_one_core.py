"""Import first in a benchmark that reports speed on one core: one BLAS/OpenMP/numba
thread, and the process (with its threads and subprocesses) pinned to one CPU, so that
no tool gains from a second core (underdog's decoder reads ahead in a thread)."""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
