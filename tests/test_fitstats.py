"""Fit indices against lavaan: Holzinger-Swineford numbers of GUIDE.md section 5 and R."""

from __future__ import annotations

import numpy as np
import pytest
from rcheck import requires_r, run_r

from policestress import fitstats as fs

# GUIDE.md section 5 (lavaan 0.6, three-factor HS model, ML)
CHI2, DF, N = 85.306, 24, 301
CHI2_BASE, DF_BASE = 918.852, 36


def test_hs_chi2_based_indices_to_printed_decimals():
    assert round(fs.cfi(CHI2, DF, CHI2_BASE, DF_BASE), 3) == 0.931
    assert round(fs.tli(CHI2, DF, CHI2_BASE, DF_BASE), 3) == 0.896
    assert round(fs.nfi(CHI2, DF, CHI2_BASE, DF_BASE), 3) == 0.907
    assert round(fs.rmsea(CHI2, DF, N), 3) == 0.092
    low, high = fs.rmsea_ci(CHI2, DF, N)
    assert (round(low, 3), round(high, 3)) == (0.071, 0.114)
    assert round(fs.rmsea_pclose(CHI2, DF, N), 3) == 0.001
    assert fs.chi2_pvalue(CHI2, DF) < 0.001


def test_hs_information_criteria():
    ic = fs.information_criteria(-3737.745, 21, N)
    assert round(ic["aic"], 3) == 7517.490
    assert round(ic["bic"], 3) == 7595.339


def test_edge_cases():
    # perfect fit: RMSEA 0, CI (0, 0), CFI/TLI 1
    assert fs.rmsea(10.0, 12, 200) == 0.0
    assert fs.rmsea_ci(1.0, 12, 200) == (0.0, 0.0)
    assert fs.cfi(10.0, 12, 500.0, 20) == 1.0
    assert fs.tli(10.0, 12, 500.0, 20) > 1.0  # lavaan does not truncate TLI
    # saturated model
    assert fs.rmsea(0.0, 0, 200) == 0.0
    assert np.isnan(fs.chi2_pvalue(0.0, 0))
    assert np.isnan(fs.rmsea_pclose(0.0, 0, 200))
    # multigroup scaling: sqrt(G)
    assert fs.rmsea(CHI2, DF, N, n_groups=2) == pytest.approx(np.sqrt(2) * fs.rmsea(CHI2, DF, N))
    with pytest.raises(ValueError):
        fs.rmsea_ci(CHI2, DF, N, level=1.5)
    with pytest.raises(ValueError):
        fs.chi2_difference(10.0, 5, 8.0, 6)


def test_matrix_indices_exact_fit():
    s = np.array([[2.0, 0.5, 0.3], [0.5, 1.5, 0.2], [0.3, 0.2, 1.0]])
    assert fs.gfi(s, s) == pytest.approx(1.0)
    assert fs.srmr(s, s) == pytest.approx(0.0)
    # H1 log-likelihood equals -n/2 (p log 2pi + log|S| + p)
    n, p = 50, 3
    expected = -n / 2 * (p * np.log(2 * np.pi) + np.log(np.linalg.det(s)) + p)
    assert fs.loglik_normal(s, s, n) == pytest.approx(expected)


HS_R = """
library(lavaan)
hs <- data[["hs"]]
m <- 'visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9'
fits <- list(
  three = cfa(m, data = hs),
  one = cfa('g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9', data = hs),
  two_groups = cfa(m, data = hs, group = "school")
)
result <- lapply(fits, function(f) {
  fm <- fitMeasures(f)
  list(fm = as.list(fm), ngroups = lavInspect(f, "ngroups"),
       S = if (lavInspect(f, "ngroups") == 1) lavInspect(f, "sampstat")$cov else NULL,
       Sigma = if (lavInspect(f, "ngroups") == 1) lavInspect(f, "implied")$cov else NULL)
})
"""


@requires_r
@pytest.mark.r
def test_against_lavaan_fitmeasures():
    """Every index from lavaan's own chi-square/df and matrices, to 1e-6 (CI 1e-5)."""
    import semopy.examples

    hs = semopy.examples.holzinger39.get_data()
    res = run_r(HS_R, {"hs": hs})
    for name, r in res.items():
        fm = r["fm"]
        g = r["ngroups"]
        x2, df, n = fm["chisq"], fm["df"], fm["ntotal"]
        xb, dfb = fm["baseline.chisq"], fm["baseline.df"]
        assert fs.cfi(x2, df, xb, dfb) == pytest.approx(fm["cfi"], abs=1e-8), name
        assert fs.tli(x2, df, xb, dfb) == pytest.approx(fm["tli"], abs=1e-8), name
        assert fs.nfi(x2, df, xb, dfb) == pytest.approx(fm["nfi"], abs=1e-8), name
        assert fs.rmsea(x2, df, n, n_groups=g) == pytest.approx(fm["rmsea"], abs=1e-8), name
        low, high = fs.rmsea_ci(x2, df, n, n_groups=g)
        # R's uniroot has tol ~1e-4 on the noncentrality: agreement to ~1e-5 in RMSEA
        assert low == pytest.approx(fm["rmsea.ci.lower"], abs=2e-5), name
        assert high == pytest.approx(fm["rmsea.ci.upper"], abs=2e-5), name
        assert fs.rmsea_pclose(x2, df, n, n_groups=g) == pytest.approx(
            fm["rmsea.pvalue"], abs=1e-8
        ), name
        assert fs.chi2_pvalue(x2, df) == pytest.approx(fm["pvalue"], abs=1e-10), name
        ic = fs.information_criteria(fm["logl"], int(fm["npar"]), n)
        assert ic["aic"] == pytest.approx(fm["aic"], abs=1e-6), name
        assert ic["bic"] == pytest.approx(fm["bic"], abs=1e-6), name
        assert ic["bic2"] == pytest.approx(fm["bic2"], abs=1e-6), name
        if g == 1:
            s, sigma = np.array(r["S"]), np.array(r["Sigma"])
            p = s.shape[0]
            gfi = fs.gfi(s, sigma)
            assert gfi == pytest.approx(fm["gfi"], abs=1e-8), name
            assert fs.agfi(gfi, p, df) == pytest.approx(fm["agfi"], abs=1e-8), name
            assert fs.srmr(s, sigma) == pytest.approx(fm["srmr"], abs=1e-8), name
            assert fs.loglik_normal(sigma, s, n) == pytest.approx(fm["logl"], abs=1e-6), name
            assert fs.loglik_normal(s, s, n) == pytest.approx(fm["unrestricted.logl"], abs=1e-6), (
                name
            )
