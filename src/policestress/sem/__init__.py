"""One structural-equation engine with lavaan's interface (``sem.cfa``, ``sem.sem``).

Modules: :mod:`~policestress.sem.syntax` (the lavaan-syntax reader),
:mod:`~policestress.sem.partable` (lavaan's parameter table and automatic parameters),
:mod:`~policestress.sem.model` (matrices, implied moments, derivatives),
:mod:`~policestress.sem.estimate` (ML discrepancy, Fisher scoring, information),
:mod:`~policestress.sem.constraints` (``==``, ``<``, ``>``, ``:=`` as functions of the
parameters) and
:mod:`~policestress.sem.fit` (``cfa``/``sem`` and the fitted object with ``fit_measures``,
``parameter_estimates``, ``standardized_solution``, ``modindices``).
"""

from policestress.sem.fit import SEMFit, cfa, sem
from policestress.sem.syntax import parse

__all__ = ["SEMFit", "cfa", "sem", "parse"]
