"""One BLAS thread for the small matrix work of the statistics modules.

The project's matrices are items x items (45 x 45 on the default site): BLAS threads do not
speed them up, and the chain runs its stages side by side on every core, where threads
waiting for each other cost CPU (the EFA stage: 0.43 -> 0.28 s CPU; the fit measures' products
took twice the CPU on two threads). Results are bitwise equal either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable[..., Any])


@cache
def _controller() -> ThreadpoolController:
    # The loaded BLAS libraries, found once per process: threadpool_limits() looks for them
    # at every call (milliseconds in a process that has loaded matplotlib, scipy and pandas).
    # numpy and scipy load theirs at import, before any statistics function runs.
    return ThreadpoolController()


def one_blas_thread():
    """A context in which BLAS runs on one thread.

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.linalg.det(np.eye(3)))
    1.0
    """
    return _controller().limit(limits=1, user_api="blas")


def on_one_blas_thread(func: F) -> F:
    """Decorator: ``func`` runs in :func:`one_blas_thread`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
