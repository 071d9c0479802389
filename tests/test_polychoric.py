"""Polychoric / polyserial correlations, thresholds and lavaan's NACOV, cross-checked with R.

Simulated ordinal data with known thresholds; one R script (lavaan's lavCor and psych's
polychoric) serves every test of the module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rcheck import requires_r, run_r
from scipy import integrate, stats

from policestress.polychoric import bvn_cdf, polychoric, polyserial, thresholds
from policestress.reliability import ordinal_alpha, ordinal_omega, reliability_table

CUTS = [[-1.0, 0.0, 1.0], [-0.5, 0.3, 1.2], [-1.5, 0.0, 0.5], [-1.0, 0.0, 1.0], [-0.8, 0.2]]
LOADINGS = [0.7, 0.6, 0.8, 0.7, 0.5]


def simulated_items(n=300, seed=18):
    """Simulated: five ordinal items (4, 4, 4, 4, 3 categories) of one factor, a continuous
    score, a binary pair with one empty 2 x 2 cell, a group in which nobody chose category 1
    of x1, and 5% missing answers."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    cols = {}
    for k, (lam, cut) in enumerate(zip(LOADINGS, CUTS, strict=True)):
        y = lam * f + np.sqrt(1 - lam**2) * rng.normal(size=n)
        cols[f"x{k + 1}"] = np.digitize(y, cut) + 1.0
    cols["score"] = 0.6 * f + 0.8 * rng.normal(size=n)
    b1 = (0.6 * f + 0.8 * rng.normal(size=n) > 0.8).astype(float)
    b2 = (0.6 * f + 0.8 * rng.normal(size=n) > -0.5).astype(float)
    b2[b1 == 1] = 1.0  # nobody with b1 = 1 and b2 = 0: one empty cell
    cols["b1"], cols["b2"] = b1, b2
    data = pd.DataFrame(cols)
    data["group"] = np.where(np.arange(n) % 2 == 0, "A", "B")
    in_b = data["group"] == "B"
    data.loc[in_b & (data["x1"] == 1), "x1"] = 2.0  # category 1 of x1 empty in group B
    items = [f"x{k}" for k in range(1, 6)]
    mask = rng.random((n, len(items))) < 0.05
    data[items] = data[items].mask(mask)
    return data


ITEMS = [f"x{k}" for k in range(1, 6)]
# psych maximises with optimize() at its default tolerance (.Machine$double.eps^0.25, about
# 1.2e-4 in rho): its correlations sit up to ~2e-5 from the maximum that lavaan (and this
# module) reach to 1e-8
PSYCH_TOL = 5e-5

R_CODE = """
suppressPackageStartupMessages({library(lavaan); library(psych); library(semTools)})
d <- data[["d"]]
items <- paste0("x", 1:5)
lav <- function(x, missing) {
  fit <- lavCor(x, ordered = names(x), missing = missing, output = "fit", se = "robust.sem")
  list(obs = unname(lavInspect(fit, "wls.obs")), nacov = unname(fit@SampleStats@NACOV[[1]]),
       names = names(lavInspect(fit, "wls.obs")))
}
complete <- na.omit(d[, items])
b <- na.omit(d[d$group == "B", items])
# psych's global thresholds need items with equal numbers of categories (x1-x4)
pc <- psych::polychoric(complete[, 1:4], progress = FALSE)
pb <- psych::polychoric(b[, 1:4], progress = FALSE)
ps <- lavCor(na.omit(d[, c("score", "x2")]), ordered = "x2", output = "cor")
result <- list(
  pairwise = lav(d[, items], "pairwise"),
  listwise = lav(d[, items], "listwise"),
  group_b = lav(d[d$group == "B", items], "listwise"),
  binary = lav(d[, c("b1", "b2")], "listwise"),
  psych_rho = unname(pc$rho), psych_tau = unname(pc$tau),
  psych_b_rho = unname(pb$rho),
  polyserial = ps[1, 2],
  # ordinal alpha (Zumbo et al.: psych::alpha on the polychoric matrix) and omega (semTools)
  ordinal_alpha = psych::alpha(pc$rho, warnings = FALSE)$total$raw_alpha,
  ordinal_omega = unname(compRelSEM(cfa("f =~ x1 + x2 + x3 + x4", complete[, 1:4],
                                        ordered = TRUE, std.lv = TRUE)))
)
"""


@pytest.fixture(scope="module")
def data():
    return simulated_items()


@pytest.fixture(scope="module")
def r_ref(data):
    return run_r(R_CODE, {"d": data})


def _compare(res, ref, tol_obs=1e-6, tol_acov=1e-6):
    assert res.labels == ref["names"]
    np.testing.assert_allclose(res.statistics, ref["obs"], atol=tol_obs)
    np.testing.assert_allclose(res.acov.to_numpy(), np.array(ref["nacov"]), atol=tol_acov)


@requires_r
@pytest.mark.r
def test_pairwise_missing_matches_lavcor_thresholds_rho_and_nacov(data, r_ref):
    res = polychoric(data[ITEMS], missing="pairwise")
    _compare(res, r_ref["pairwise"])
    # n per pair: the rows that answered both items
    answered = data[ITEMS].notna()
    for row in res.pairs.itertuples():
        assert row.n == int((answered[row.item1] & answered[row.item2]).sum())
    assert res.n == len(data)
    assert (res.thresholds.groupby("item")["n"].first() == answered.sum()).all()


@requires_r
@pytest.mark.r
def test_listwise_matches_lavcor(data, r_ref):
    _compare(polychoric(data[ITEMS], missing="listwise"), r_ref["listwise"])


@requires_r
@pytest.mark.r
def test_sparse_table_category_nobody_chose_in_one_group(data, r_ref):
    """Group B: nobody chose category 1 of x1 (two thresholds left) and several of its
    bivariate tables have empty cells."""
    b = data.loc[data["group"] == "B", ITEMS].dropna()
    res = polychoric(b)
    assert (res.thresholds["item"] == "x1").sum() == 2
    assert res.pairs["empty_cells"].sum() > 0
    _compare(res, r_ref["group_b"])
    # psych's default (global thresholds, no correction in that case) agrees too
    four = polychoric(b[ITEMS[:4]]).rho.to_numpy()
    np.testing.assert_allclose(four, np.array(r_ref["psych_b_rho"]), atol=PSYCH_TOL)


@requires_r
@pytest.mark.r
def test_binary_table_with_one_empty_cell_uses_lavaan_zero_add(data, r_ref):
    res = polychoric(data[["b1", "b2"]])
    assert res.pairs.loc[0, "empty_cells"] == 1
    _compare(res, r_ref["binary"])


@requires_r
@pytest.mark.r
def test_matches_psych_polychoric(data, r_ref):
    """psych with its default global thresholds (items with equal numbers of categories;
    otherwise psych switches to per-table thresholds with 0.5 added to empty cells, which
    lavaan does not do and this module does not imitate)."""
    res = polychoric(data[ITEMS].dropna()[ITEMS[:4]])
    np.testing.assert_allclose(res.rho.to_numpy(), np.array(r_ref["psych_rho"]), atol=PSYCH_TOL)
    tau = np.array(r_ref["psych_tau"])  # items x thresholds
    np.testing.assert_allclose(res.thresholds["est"], tau.ravel(), atol=1e-10)


@requires_r
@pytest.mark.r
def test_polyserial_matches_lavcor(data, r_ref):
    res = polyserial(data, "score", "x2")
    assert res.loc[0, "rho"] == pytest.approx(r_ref["polyserial"], abs=1e-6)
    assert res.loc[0, "n"] == int(data["x2"].notna().sum())


@requires_r
@pytest.mark.r
def test_ordinal_alpha_and_omega_match_psych_and_semtools(data, r_ref):
    items = data[ITEMS].dropna()[ITEMS[:4]]  # the rows R used: complete on x1-x5
    # psych's polychoric sits ~2e-5 from the maximum (PSYCH_TOL), alpha moves less
    assert ordinal_alpha(items) == pytest.approx(r_ref["ordinal_alpha"], abs=1e-4)
    assert ordinal_omega(items)["omega"] == pytest.approx(r_ref["ordinal_omega"], abs=1e-6)
    table = reliability_table(data, {"x": ITEMS[:4]}, ordinal=True)  # complete on x1-x4
    own = data[ITEMS[:4]].dropna()
    assert table.loc[0, "ordinal_omega"] == pytest.approx(ordinal_omega(own)["omega"])
    assert table.loc[0, "ordinal_alpha"] == pytest.approx(ordinal_alpha(own))
    assert table.loc[0, "omega"] < table.loc[0, "ordinal_omega"]  # ML on 4-point items: lower


def test_estimates_recover_simulated_thresholds():
    """Simulated, large n: the thresholds estimate the cut points that made the data."""
    big = simulated_items(n=20000, seed=3)
    th = thresholds(big[["x2", "x5"]].dropna())
    np.testing.assert_allclose(th["est"], CUTS[1] + CUTS[4], atol=0.03)


def test_bivariate_normal_cdf_against_numerical_integration():
    rng = np.random.default_rng(5)
    for r in (-0.999, -0.9, -0.3, 0.0, 0.4, 0.85, 0.95, 0.995, 0.999):
        h, k = rng.normal(size=2) * 1.5

        def f(t, h=h, k=k):
            return np.exp(-(h * h + k * k - 2 * h * k * np.sin(t)) / (2 * np.cos(t) ** 2))

        area = integrate.quad(f, 0, np.arcsin(r), epsabs=1e-15, limit=200)[0]
        ref = stats.norm.cdf(h) * stats.norm.cdf(k) + area / (2 * np.pi)
        assert bvn_cdf(h, k, r) == pytest.approx(ref, abs=1e-13)
    assert bvn_cdf(np.inf, 0.3, 0.5) == pytest.approx(stats.norm.cdf(0.3), abs=1e-15)
    assert bvn_cdf(-np.inf, 0.3, 0.5) == 0.0


def test_item_with_one_category_is_refused():
    d = pd.DataFrame({"a": [1, 2, 1, 2], "b": [3, 3, 3, np.nan]})
    with pytest.raises(ValueError, match="'b' has 1 observed category"):
        polychoric(d)
