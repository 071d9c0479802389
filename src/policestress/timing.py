"""Time spent writing outputs, for the benchmark's start-up / import / compute / output split.

When ``$POLICESTRESS_TIMINGS`` names a file (set by ``scripts/bench.py`` through the stage
runner, and inherited by the notebook's kernel), :func:`output_timer` appends the seconds
each table or figure took to write to ``<that file>.output``; otherwise it does nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

TIMINGS_ENV = "POLICESTRESS_TIMINGS"


@contextmanager
def output_timer() -> Iterator[None]:
    target = os.environ.get(TIMINGS_ENV)
    start = time.perf_counter()
    try:
        yield
    finally:
        if target:
            with open(f"{target}.output", "a", encoding="utf-8") as handle:
                handle.write(f"{time.perf_counter() - start:.6f}\n")
