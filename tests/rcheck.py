"""Run R code on the same data as a Python test, for cross-checks against lavaan/psych/semTools.

Tests call :func:`run_r` with a snippet that assigns ``result`` (a list); the data frames are
passed as CSV files and read in R as ``data[["name"]]``. The value comes back through JSON.
Tests marked ``r`` skip with a clear reason when Rscript or a package is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

R_PACKAGES = ("lavaan", "psych", "semTools", "GPArotation", "jsonlite")


def r_missing_reason() -> str | None:
    """Why R cross-checks cannot run here, or None when they can."""
    if shutil.which("Rscript") is None:
        return (
            "Rscript not found: install r-base-core r-cran-lavaan r-cran-psych r-cran-semtools "
            "r-cran-gparotation r-cran-jsonlite (Debian) to run the R cross-checks"
        )
    quoted = ", ".join(f"'{p}'" for p in R_PACKAGES)
    probe = f"for (p in c({quoted})) if (!requireNamespace(p, quietly=TRUE)) cat(p, '')"
    missing = subprocess.run(["Rscript", "-e", probe], capture_output=True, text=True).stdout
    if missing.strip():
        return f"R packages missing: {missing.strip()} (Debian: r-cran-<name>)"
    return None


_REASON = r_missing_reason()
requires_r = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def run_r(code: str, data: dict[str, pd.DataFrame] | None = None, timeout: int = 600) -> dict:
    """Run ``code`` in Rscript and return the JSON-decoded ``result`` it assigns.

    Numbers come back at full precision (``digits = NA``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        loads = []
        for name, frame in (data or {}).items():
            path = tmpdir / f"{name}.csv"
            frame.to_csv(path, index=False)
            loads.append(f'data[["{name}"]] <- read.csv("{path}", check.names = FALSE)')
        out = tmpdir / "result.json"
        script = "\n".join(
            [
                "suppressPackageStartupMessages({library(jsonlite)})",
                "data <- list()",
                *loads,
                code,
                f'writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, na = "null"), "{out}")',
            ]
        )
        (tmpdir / "script.R").write_text(script, encoding="utf-8")
        proc = subprocess.run(
            ["Rscript", str(tmpdir / "script.R")], capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"R failed:\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text(encoding="utf-8"))
