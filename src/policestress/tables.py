"""Writing tidy tables: one CSV per table, identical bytes on every rerun.

Thesis-ready renderings (Word three-line tables, LaTeX booktabs) are made from the same
DataFrames by the report stage.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from policestress.timing import output_timer

# Enough digits to carry every statistic to well beyond its printed precision, few enough
# that floating-point noise in the last bits does not change the file between reruns.
FLOAT_FORMAT = "%.10g"


def write_csv(table: pd.DataFrame, path: Path, index: bool = False) -> Path:
    """Write a tidy table as UTF-8 CSV with a fixed float format and ``\\n`` line ends.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_csv(pd.DataFrame({"scale": ["a"], "alpha": [0.8123456789123]}), out)
    >>> out.read_text()
    'scale,alpha\\na,0.8123456789\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with output_timer():
        table.to_csv(
            path, index=index, float_format=FLOAT_FORMAT, lineterminator="\n", encoding="utf-8"
        )
    return path
