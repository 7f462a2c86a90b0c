"""One thread for numpy's BLAS (and the other math libraries' pools), in the grader and in every fork server.

OpenBLAS starts a pool of a thread per core in every process that imports numpy, and its threads
spin a while after each call. Beside `--jobs` sandbox children on the same cores, that pool only
takes their CPU: the arrays a course's reference, cases and oracle compute on are a notebook's
(a few dozen numbers). A fork server's children are capped too, for their 1 GiB address space.
"""

from __future__ import annotations

from collections.abc import MutableMapping

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS")


def cap(environ: MutableMapping[str, str]) -> None:
    """One thread in each pool, unless `environ` already chooses (a value set by the user is kept)."""
    for name in VARIABLES:
        environ.setdefault(name, "1")
