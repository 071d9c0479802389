"""Listwise deletion, the one missing-data helper of every analysis that uses complete cases.

Item nonresponse stays NaN in ``analysis.csv``; each analysis states its rule. Those that
use complete cases (EFA, reliability, HTMT, invariance with ``missing="listwise"``, the
group comparisons, the ERI odds ratios, the synthesis regressions) take them from
:func:`complete_cases`; FIML (``missing="ml"``) is the SEM engine's
(:mod:`policestress.sem.missing`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def complete_cases(data: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of ``data[columns]`` with no missing value, as floats (listwise deletion).

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Columns to keep; all columns when None.

    Returns
    -------
    DataFrame
        The complete rows, as floats, index kept; ``attrs["n_dropped"]`` counts the rows
        left out.

    Raises
    ------
    KeyError
        When a column is not in ``data`` (named).
    ValueError
        When a value is not a number.

    Examples
    --------
    >>> import pandas as pd
    >>> cc = complete_cases(pd.DataFrame({"a": [1, 2, None], "b": [3, 4, 5]}))
    >>> len(cc), cc.attrs["n_dropped"]
    (2, 1)
    """
    columns = list(data.columns) if columns is None else list(columns)
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise KeyError(f"columns not in the data: {absent}")
    frame = data[columns]
    kept = frame.dropna().apply(pd.to_numeric, errors="raise").astype(float)
    kept.attrs["n_dropped"] = int(len(frame) - len(kept))
    return kept
