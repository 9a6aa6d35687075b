"""Native thread pools (OpenBLAS for numpy, OpenMP for FAISS) sized for serving.

A server answers many small queries at once; letting each query's matrix products fan out over every core makes
the pools fight for the CPU. Measured on the 2-core machine with other work running: one search at 10,000 articles
took 420 ms with the default pools and 25 ms with one thread each (knowledge/README figures: bench/kb_bench.py).
Environment variables must be set before the libraries load (the ``urp`` command does it first thing);
threadpoolctl also resizes pools that are already loaded.
"""

from __future__ import annotations

import os

VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_defaults(n: int) -> None:
    """Before numpy/FAISS load: every pool gets ``n`` threads unless the operator chose otherwise."""
    for name in VARIABLES:
        os.environ.setdefault(name, str(n))


def limit(n: int) -> None:
    """Resize the pools already loaded in this process (OpenBLAS is global; OpenMP applies to this thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass
