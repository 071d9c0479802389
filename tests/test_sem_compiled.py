"""The compiled refit (sem.compiled.CompiledML) gives what sem.cfa / sem.sem give on the same data."""

import numpy as np
import pandas as pd
import pytest
from semopy.examples import holzinger39

from policestress import sem
from policestress.sem.compiled import CompiledML

HS = holzinger39.get_data()
MODELS = {
    "three factors": (
        "cfa",
        "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9",
    ),
    "means": ("cfa", "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; x1 ~ 1"),
    "second order": (
        "cfa",
        "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9;"
        "g =~ visual + textual + speed",
    ),
    "labels and regression": (
        "sem",
        "visual =~ x1 + a*x2 + a*x3; textual =~ x4 + x5 + x6; textual ~ visual",
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_refit_equals_a_fresh_fit(name):
    kind, syntax = MODELS[name]
    fitter = sem.cfa if kind == "cfa" else sem.sem
    compiled = CompiledML(fitter(syntax, HS))
    half = HS.iloc[::2].reset_index(drop=True)
    reference = fitter(syntax, half)
    x = half[reference.observed].to_numpy(dtype=float)
    refit = compiled.fit_moments(np.cov(x, rowvar=False, bias=True), x.mean(axis=0), len(x))
    assert refit.converged and reference.converged
    np.testing.assert_allclose(refit.theta, reference.theta, atol=1e-8)
    np.testing.assert_allclose(refit.vcov, reference.vcov(), rtol=1e-6, atol=1e-12)
    measures = reference.fit_measures()
    for key, value in refit.measures.items():
        assert value == pytest.approx(measures[key], rel=1e-7, abs=1e-10), key
    assert refit.improper == any("negative variance" in w for w in reference.warnings)


def _with_moments(cov: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """n cases whose covariance (divisor n) is exactly ``cov`` and whose means are 0."""
    z = np.random.default_rng(seed).standard_normal((n, len(cov)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, bias=True))).T
    return z @ np.linalg.cholesky(cov).T


def test_an_improper_solution_is_flagged_as_sem_cfa_warns_and_a_singular_sample_refused():
    # one factor, three items: x3's loading^2 = s13 s23 / s12 = 1.2 > its variance 1
    cov = np.array([[1.0, 0.3, 0.6], [0.3, 1.0, 0.6], [0.6, 0.6, 1.0]])
    frame = pd.DataFrame(_with_moments(cov, 200), columns=["x1", "x2", "x3"])
    syntax = "f =~ x1 + x2 + x3"
    reference = sem.cfa(syntax, frame)
    assert any("negative variance of observed variable 'x3'" in w for w in reference.warnings)
    compiled = CompiledML(sem.cfa(syntax, HS))
    refit = compiled.fit_moments(cov, np.zeros(3), 200)
    assert refit.converged and refit.improper
    np.testing.assert_allclose(refit.theta, reference.theta, atol=1e-8)
    proper = compiled.fit_moments(np.cov(HS[["x1", "x2", "x3"]].T, bias=True), None, 301)
    assert proper.converged and not proper.improper
    failed = compiled.fit_moments(np.ones((3, 3)), np.zeros(3), 200)
    assert not failed.converged and np.isnan(failed.theta).all()


def test_only_complete_single_group_ml_is_compiled():
    data = HS.copy()
    data.loc[:5, "x1"] = np.nan
    fiml = sem.cfa("visual =~ x1 + x2 + x3", data, missing="ml")
    with pytest.raises(ValueError, match="single-group complete-data ML"):
        CompiledML(fiml)
