"""Sample-size planning by Monte Carlo simulation (Muthén & Muthén 2002; R's simsem).

Draw many samples from a population model (:mod:`~policestress.power.population`), fit the
analysis model to each (:mod:`~policestress.power.study`: serially, with joblib processes or
on a Dask cluster, resumable) and count convergence, improper solutions, bias, coverage,
power and fit per sample size (:mod:`~policestress.power.summary`).

Examples
--------
>>> pop = population_from_syntax("f =~ 0.5*x1 + 0.5*x2 + 0.5*x3 + 0.5*x4")
>>> res = simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [100, 300], 10, backend="serial",
...                      progress=False)
>>> table = parameter_table(res)
>>> sorted(table["n"].unique().tolist())
[100, 300]
"""

from policestress.power.population import (
    PopulationModel,
    categorize,
    population_from_fit,
    population_from_site_model,
    population_from_syntax,
    population_values,
)
from policestress.power.study import BACKENDS, ESTIMATORS, PowerResult, simulate_power
from policestress.power.summary import (
    FIT_CUTOFFS,
    analytic_power,
    convergence_table,
    fit_table,
    parameter_table,
    power_summary,
    required_n,
)

__all__ = [
    "BACKENDS",
    "ESTIMATORS",
    "FIT_CUTOFFS",
    "PopulationModel",
    "PowerResult",
    "analytic_power",
    "categorize",
    "convergence_table",
    "fit_table",
    "parameter_table",
    "population_from_fit",
    "population_from_site_model",
    "population_from_syntax",
    "population_values",
    "power_summary",
    "required_n",
    "simulate_power",
]
