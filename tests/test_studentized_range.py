"""The studentized range CDF (R's ptukey in numpy) against R's ptukey and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from scipy import stats

from policestress.studentized_range import ptukey

# Every interval length of R's outer integral (df <= 100, 800, 5000, 25000), the known-SE
# branch (df > 25000), both range-integral branches (w <= 3, w > 3), tails down to 1e-12,
# and groups of 2 to 12.
GRID = pd.DataFrame(
    [
        (q, k, df, r)
        for q in (0.05, 0.5, 1.5, 2.9, 3.6, 5.0, 8.0, 12.0, 17.0)
        for k in (2, 3, 5, 12)
        for df in (2.0, 3.7, 9.5, 48.2, 100.0, 420.0, 3000.0, 12000.0, 30000.0)
        for r in (1, 3)
    ],
    columns=["q", "k", "df", "r"],
)


@requires_r
@pytest.mark.r
def test_ptukey_matches_r_on_a_grid():
    ref = run_r(
        'g <- data[["g"]]\n'
        "result <- list(lower = mapply(function(q, k, df, r) ptukey(q, k, df, nranges = r),"
        " g$q, g$k, g$df, g$r),"
        " upper = mapply(function(q, k, df) ptukey(q, k, df, lower.tail = FALSE),"
        " g$q, g$k, g$df))",
        {"g": GRID},
    )
    lower = np.concatenate(
        [
            ptukey(g["q"], k, g["df"], nranges=r)
            for (k, r), g in GRID.groupby(["k", "r"], sort=False)
        ]
    )
    order = np.concatenate([g.index for _, g in GRID.groupby(["k", "r"], sort=False)])
    np.testing.assert_allclose(lower, np.asarray(ref["lower"])[order], rtol=1e-12, atol=1e-15)
    upper = np.concatenate(
        [ptukey(g["q"], k, g["df"], lower_tail=False) for k, g in GRID.groupby("k", sort=False)]
    )
    order = np.concatenate([g.index for _, g in GRID.groupby("k", sort=False)])
    # 1 - lower in both: the same up to the rounding of a difference from 1
    np.testing.assert_allclose(upper, np.asarray(ref["upper"])[order], rtol=1e-12, atol=1e-13)


def test_ptukey_agrees_with_scipy_where_r_has_no_value():
    """R's ptukey is NaN for df < 2; there scipy's integration is used and it agrees with it
    (for df >= 2 the R grid above is the reference)."""
    q = np.array([0.5, 2.0, 6.0])
    np.testing.assert_allclose(
        ptukey(q, 4, 1.3, lower_tail=False),
        stats.studentized_range.sf(q, 4, 1.3),
        rtol=1e-10,
    )
    # and for df >= 2 the two integrations agree to scipy's accuracy
    np.testing.assert_allclose(
        ptukey(q, 4, 37.5), stats.studentized_range.cdf(q, 4, 37.5), atol=1e-8
    )


def test_ptukey_edges():
    out = ptukey([0.0, -1.0, np.inf, np.nan, 3.0], 3, [10, 10, 10, 10, np.inf])
    assert out[:3].tolist() == [0.0, 0.0, 1.0] and np.isnan(out[3])
    assert out[4] == pytest.approx(float(stats.studentized_range.cdf(3.0, 3, np.inf)), abs=1e-9)
    assert ptukey(np.zeros((2, 3)), 3, 10).shape == (2, 3)
    with pytest.raises(ValueError, match="nmeans >= 2"):
        ptukey(1.0, 1, 10)
    with pytest.raises(ValueError, match="positive degrees of freedom"):
        ptukey(1.0, 3, 0)
