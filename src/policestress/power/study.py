"""One Monte Carlo study: draw, fit, record; serially, with joblib or on a Dask cluster.

:func:`simulate_power` runs ``replications`` samples at each sample size of ``n_grid``.
Replication ``r`` at sample size ``n`` draws from its own random stream,
``numpy.random.SeedSequence(seed, spawn_key=(n, r))`` (the key ``SeedSequence.spawn``
gives its children), so a replication's data do not depend on the backend, the number of
workers, the chunking, the other sample sizes or an interruption: every backend gives the
same results for one seed.

Replications run in chunks (``chunk_size`` replications of one n). With a
``checkpoint`` folder each finished chunk is written to its subfolder ``study-<digest>``
(two CSV files, written under a temporary name and renamed, so a chunk is either whole or
absent) and a rerun skips the finished chunks: an interrupted study resumes where it
stopped and gives the results of an uninterrupted one. The digest covers everything that
changes a replication (population, analysis model, estimator, data, missing-data design,
seed, chunk size), so another study never reuses these chunks; more replications or
another n grid reuse the chunks they share.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policestress import sem
from policestress.power.population import PopulationModel, categorize, population_values
from policestress.sem.compiled import CompiledML
from policestress.threads import one_blas_thread

__all__ = [
    "Study",
    "PowerResult",
    "simulate_power",
    "run_chunk",
    "execute",
    "BACKENDS",
    "ESTIMATORS",
]

BACKENDS = ("serial", "joblib", "dask")
ESTIMATORS = ("ML", "MLR", "FIML", "WLSMV")
# Parameter changes that end Fisher scoring in a replication: far below Monte Carlo error.
REPLICATION_TOL = 1e-7
REPLICATION_COLUMNS = [
    "n",
    "replication",
    "n_used",
    "converged",
    "improper",
    "iterations",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "srmr",
]
ESTIMATE_COLUMNS = ["n", "replication", "parameter", "est", "se"]


def parameter_names(fit) -> list[str]:
    """``lhs op rhs`` of each free parameter of a fitted model, in ``theta`` order."""
    pt = fit.partable
    first = pt[pt["free"] > 0].drop_duplicates("free").sort_values("free")
    return [f"{r.lhs}{r.op}{r.rhs}" for r in first.itertuples()]


@dataclass
class Study:
    """What a Monte Carlo study draws and fits (everything a worker needs).

    Built by :func:`simulate_power`; ``truth`` is the analysis model fitted to the
    population moments (:func:`~policestress.power.population.population_values`).
    """

    population: PopulationModel
    analysis_model: str
    estimator: str
    categorized: bool
    missing_rate: float
    missing_patterns: np.ndarray | None
    seed: int
    truth: object = field(repr=False)
    compiled: CompiledML | None = field(default=None, repr=False)

    @property
    def parameters(self) -> list[str]:
        return parameter_names(self.truth)

    @property
    def has_missing(self) -> bool:
        return self.missing_rate > 0 or self.missing_patterns is not None

    def digest(self) -> str:
        """SHA-256 of everything that changes a replication's result."""
        record = {
            "population": self.population.digest(),
            "analysis_model": self.analysis_model,
            "estimator": self.estimator,
            "categorized": self.categorized,
            "missing_rate": self.missing_rate,
            "missing_patterns": (
                hashlib.sha256(np.packbits(self.missing_patterns).tobytes()).hexdigest()
                + str(self.missing_patterns.shape)
                if self.missing_patterns is not None
                else None
            ),
            "seed": self.seed,
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    # -- one replication -----------------------------------------------------------------

    def draw(self, n: int, replication: int) -> np.ndarray:
        """The data of replication ``replication`` at sample size ``n`` (NaN = missing),
        columns in ``population.observed`` order."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(n, replication)))
        pop = self.population
        x = pop.mean + rng.standard_normal((n, len(pop.mean))) @ np.linalg.cholesky(pop.cov).T
        if self.categorized:
            x = categorize(x, pop)
        if self.missing_patterns is not None:
            rows = rng.integers(0, len(self.missing_patterns), size=n)
            x[self.missing_patterns[rows]] = np.nan
        elif self.missing_rate > 0:
            x[rng.random(x.shape) < self.missing_rate] = np.nan
        return x

    def replicate(self, n: int, replication: int) -> tuple[dict, np.ndarray, np.ndarray]:
        """Draw and fit one replication: its record, estimates and standard errors."""
        x = self.draw(n, replication)
        observed = self.population.observed
        used = [observed.index(v) for v in self.truth.observed]
        x = x[:, used]
        record = {"n": n, "replication": replication}
        fast = self.compiled is not None and (self.estimator == "ML")
        if fast:
            x = x[~np.isnan(x).any(axis=1)]  # ML: complete cases (listwise)
            nan = np.full((len(used), len(used)), np.nan)
            mean = x.mean(axis=0) if len(x) > 1 else nan[0]
            cov = np.cov(x, rowvar=False, bias=True) if len(x) > 1 else nan
            result = self.compiled.fit_moments(
                cov, mean, len(x), start=self.truth.theta, tol=REPLICATION_TOL
            )
            record.update(
                n_used=len(x),
                converged=result.converged,
                improper=result.improper,
                iterations=result.iterations,
                **result.measures,
            )
            return record, result.theta, np.sqrt(np.abs(np.diag(result.vcov)))
        return self._replicate_engine(x, record)

    def _replicate_engine(self, x: np.ndarray, record: dict):
        """MLR, FIML, WLSMV: the engine's full fit of the data frame."""
        frame = pd.DataFrame(x, columns=self.truth.observed)
        kwargs = {"estimator": self.estimator, "missing": "listwise"}
        if self.estimator == "FIML":
            kwargs = {"estimator": "ML", "missing": "ml"}
        elif self.estimator == "MLR" and self.has_missing:
            kwargs["missing"] = "ml"
        elif self.estimator == "WLSMV":  # pairwise polychorics when answers are missing
            kwargs["ordered"] = list(self.truth.observed)
            kwargs["missing"] = "pairwise" if self.has_missing else "listwise"
        fit = sem.cfa(self.analysis_model, frame, name="analysis model", **kwargs)
        q = len(self.truth.theta)
        ok = fit.fitted and fit.converged
        record.update(n_used=fit.ntotal, converged=ok, iterations=fit.iterations)
        if not ok:
            record.update(improper=False, **dict.fromkeys(REPLICATION_COLUMNS[6:], np.nan))
            return record, np.full(q, np.nan), np.full(q, np.nan)
        improper_words = ("negative variance", "not positive definite", "singular")
        record["improper"] = any(w in text for text in fit.warnings for w in improper_words)
        fm = fit.fit_measures()
        # MLR: the scaled test, robust CFI/TLI/RMSEA; WLSMV: the scaled-shifted test and
        # the indices computed from it (lavaan's .scaled), as applied work reports them
        index = {"MLR": "robust", "WLSMV": "scaled"}.get(self.estimator)
        for key in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"):
            name = key
            if index and key in ("chisq", "df", "pvalue"):
                name = f"{key}.scaled"
            elif index and key in ("cfi", "tli", "rmsea"):
                name = f"{key}.{index}"
            record[key] = float(fm[name] if name in fm else fm[key])
        se = np.sqrt(np.abs(np.diag(fit.vcov())))
        return record, fit.theta, se


def run_chunk(study: Study, n: int, start: int, stop: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replications ``start .. stop - 1`` at sample size ``n``: (replications, estimates)."""
    records, estimates = [], []
    names = study.parameters
    with one_blas_thread():
        for r in range(start, stop):
            record, theta, se = study.replicate(n, r)
            records.append(record)
            estimates.append(
                pd.DataFrame({"n": n, "replication": r, "parameter": names, "est": theta, "se": se})
            )
    return _typed(pd.DataFrame(records), REPLICATION_COLUMNS), _typed(
        pd.concat(estimates, ignore_index=True), ESTIMATE_COLUMNS
    )


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One column order and dtype, in memory as read back from a checkpoint."""
    frame = frame[columns].copy()
    for col in frame.columns:
        if col in ("n", "replication", "n_used", "iterations"):
            frame[col] = frame[col].astype("int64")
        elif col in ("converged", "improper"):
            frame[col] = frame[col].astype(bool)
        elif col == "parameter":
            frame[col] = frame[col].astype(str)
        else:
            frame[col] = frame[col].astype("float64")
    return frame


@dataclass
class PowerResult:
    """A finished study: one row per replication, one per replication and parameter.

    ``population`` holds each parameter's reference value (``population``: the analysis
    model fitted to the population moments) and its analytic standard error per case
    (``se_unit``: from the expected information; NaN where the data are categorized or
    incomplete or the estimator is not ML).
    """

    replications: pd.DataFrame
    estimates: pd.DataFrame
    population: pd.DataFrame
    settings: dict


# ---- execution --------------------------------------------------------------------------


def _chunks(
    n_grid: Sequence[int], replications: int, chunk_size: int
) -> list[tuple[int, int, int]]:
    return [
        (int(n), start, min(start + chunk_size, replications))
        for n in n_grid
        for start in range(0, replications, chunk_size)
    ]


def _chunk_paths(folder: Path, chunk: tuple[int, int, int]) -> tuple[Path, Path]:
    n, start, stop = chunk
    stem = f"n{n:06d}_r{start:06d}-{stop:06d}"
    return folder / f"{stem}.replications.csv", folder / f"{stem}.estimates.csv"


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, path)


def _read_chunk(folder: Path, chunk) -> tuple[pd.DataFrame, pd.DataFrame]:
    reps, ests = _chunk_paths(folder, chunk)
    return (
        _typed(pd.read_csv(reps, float_precision="round_trip"), REPLICATION_COLUMNS),
        _typed(pd.read_csv(ests, float_precision="round_trip"), ESTIMATE_COLUMNS),
    )


def _open_checkpoint(folder: Path, study: Study, chunk_size: int) -> Path:
    """The study's own subfolder of ``folder`` (created, with ``study.json`` saying what
    the study is)."""
    digest = hashlib.sha256(f"{study.digest()} {chunk_size}".encode()).hexdigest()
    own = folder / f"study-{digest[:16]}"
    own.mkdir(parents=True, exist_ok=True)
    marker = own / "study.json"
    if not marker.exists():
        record = {
            "population": study.population.source,
            "analysis_model": study.analysis_model,
            "estimator": study.estimator,
            "categorized": study.categorized,
            "missing_rate": study.missing_rate,
            "observed_missing_patterns": study.missing_patterns is not None,
            "seed": study.seed,
            "chunk_size": chunk_size,
        }
        marker.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return own


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="replications", unit="fit", disable=not enabled)


def _run_serial(study, todo):
    for chunk in todo:
        yield chunk, run_chunk(study, *chunk)


def _run_joblib(study, todo, n_jobs):
    from joblib import Parallel, delayed

    def task(chunk):
        return chunk, run_chunk(study, *chunk)

    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(delayed(task)(chunk) for chunk in todo)


def _run_dask(study, todo, scheduler, n_jobs, processes):
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        workers = n_jobs if n_jobs and n_jobs > 0 else os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        client = Client(cluster)
    elif isinstance(scheduler, str):
        client = Client(scheduler)
    else:
        client = scheduler  # a distributed.Client the caller owns
    try:
        shared = client.scatter(study, broadcast=True)
        futures = {client.submit(run_chunk, shared, *chunk, pure=False): chunk for chunk in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()


def execute(study: Study, chunks, backend="joblib", n_jobs=-1, scheduler=None, processes=True):
    """Run ``chunks`` (``(n, start, stop)`` each) of ``study`` on ``backend``; yields
    ``(chunk, (replications, estimates))`` as chunks finish (in any order)."""
    if backend == "serial" or not chunks:
        return _run_serial(study, chunks)
    if backend == "joblib":
        return _run_joblib(study, chunks, n_jobs)
    return _run_dask(study, chunks, scheduler, n_jobs, processes)


def simulate_power(
    population: PopulationModel,
    analysis_model: str,
    n_grid: Sequence[int],
    replications: int,
    *,
    estimator: str = "ML",
    categorized: bool = False,
    missing_rate: float = 0.0,
    missing_patterns: np.ndarray | pd.DataFrame | None = None,
    seed: int = 0,
    backend: str = "joblib",
    n_jobs: int = -1,
    scheduler=None,
    processes: bool = True,
    chunk_size: int = 25,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> PowerResult:
    """Monte Carlo study of an analysis model's estimates and fit at several sample sizes.

    Parameters
    ----------
    population : PopulationModel
        Where the data come from (:mod:`policestress.power.population`).
    analysis_model : str
        lavaan syntax of the model fitted to each sample (misspecified on purpose, if you
        like); fitted as ``sem.cfa`` fits it.
    n_grid : sequence of int
        Sample sizes (cases drawn, before missing data).
    replications : int
        Samples per sample size.
    estimator : {'ML', 'MLR', 'FIML', 'WLSMV'}
        ``ML``: complete cases (listwise); ``FIML``: ML with every case
        (``missing="ml"``); ``MLR``: robust SEs and scaled test (robust CFI, TLI, RMSEA),
        with FIML when data are missing; ``WLSMV``: the categories as ordered
        (``categorized=True``; pairwise with missing answers), reference values from a
        large WLSMV fit.
    categorized : bool
        Record items with thresholds as rating categories (analysed as numbers with ML).
    missing_rate : float
        MCAR: each value missing with this probability.
    missing_patterns : array or DataFrame of bool, optional
        Observed patterns (True = missing; columns in ``population.observed`` order, e.g.
        a site's ``data[items].isna()``): each case takes the pattern of a row drawn at
        random. Overrides ``missing_rate``.
    seed : int
        Root of every replication's random stream.
    backend : {'serial', 'joblib', 'dask'}
        ``joblib``: processes on this machine (``n_jobs``, -1 every core); ``dask``: a
        ``distributed`` cluster, ``scheduler`` its address (``"tcp://host:8786"``) or a
        ``distributed.Client``; without one a ``LocalCluster`` of ``n_jobs`` workers
        (``processes=False``: threads of this process).
    chunk_size : int
        Replications per task and per checkpoint file.
    checkpoint : path, optional
        Folder of finished chunks (a subfolder per study): a rerun skips them (resume
        after an interruption).
    progress : bool
        A progress bar of the replications.
    stop_after : int, optional
        Run at most this many new chunks, then stop without a result (returns None): an
        interruption on purpose, for tests and for spreading a study over sessions.

    Returns
    -------
    PowerResult
        Summarise it with :func:`~policestress.power.summary.convergence_table`,
        :func:`~policestress.power.summary.parameter_table`,
        :func:`~policestress.power.summary.fit_table` and
        :func:`~policestress.power.summary.required_n`.

    Examples
    --------
    >>> from policestress.power import population_from_syntax
    >>> pop = population_from_syntax("f =~ 0.7*x1 + 0.7*x2 + 0.7*x3 + 0.7*x4")
    >>> res = simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [100], 4, backend="serial",
    ...                      progress=False)
    >>> res.replications[["n", "replication", "converged"]].values.tolist()
    [[100, 0, True], [100, 1, True], [100, 2, True], [100, 3, True]]
    """
    estimator = estimator.upper()
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if estimator == "WLSMV" and not categorized:
        raise ValueError("estimator 'WLSMV' analyses rating categories: set categorized=True")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
    n_grid = [int(n) for n in n_grid]
    if not n_grid or min(n_grid) < 2 or replications < 1 or chunk_size < 1:
        raise ValueError("n_grid needs sample sizes >= 2, replications and chunk_size >= 1")
    patterns = None
    if missing_patterns is not None:
        patterns = np.asarray(missing_patterns, dtype=bool)
        if patterns.ndim != 2 or patterns.shape[1] != len(population.observed):
            raise ValueError(
                f"missing_patterns must have one column per population variable "
                f"({len(population.observed)}), got shape {patterns.shape}"
            )
    has_missing = missing_rate > 0 or patterns is not None
    fiml = estimator == "FIML" or (estimator == "MLR" and has_missing)
    truth = population_values(
        population,
        analysis_model,
        categorized,
        seed,
        meanstructure=True if fiml else None,
        estimator="WLSMV" if estimator == "WLSMV" else "ML",
    )
    complete_ml = estimator == "ML"
    study = Study(
        population=population,
        analysis_model=analysis_model,
        estimator=estimator,
        categorized=categorized,
        missing_rate=float(missing_rate) if patterns is None else 0.0,
        missing_patterns=patterns,
        seed=int(seed),
        truth=truth,
        compiled=CompiledML(truth) if complete_ml else None,
    )
    chunks = _chunks(n_grid, replications, chunk_size)
    folder = Path(checkpoint) if checkpoint is not None else None
    done: dict = {}
    if folder is not None:
        folder = _open_checkpoint(folder, study, chunk_size)
        done = {c: None for c in chunks if all(p.exists() for p in _chunk_paths(folder, c))}
    todo = [c for c in chunks if c not in done]
    if stop_after is not None:
        todo = todo[:stop_after]
    results = {}
    bar = _progress(sum(c[2] - c[1] for c in chunks), progress)
    bar.update(sum(c[2] - c[1] for c in done))
    for chunk, (reps, ests) in execute(study, todo, backend, n_jobs, scheduler, processes):
        if folder is not None:
            reps_path, ests_path = _chunk_paths(folder, chunk)
            _write_atomic(ests, ests_path)
            _write_atomic(reps, reps_path)
        results[chunk] = (reps, ests)
        bar.update(chunk[2] - chunk[1])
    bar.close()
    if stop_after is not None and len(done) + len(results) < len(chunks):
        return None
    for chunk in done:
        results[chunk] = _read_chunk(folder, chunk)
    if folder is not None:  # every chunk as stored, so a resumed run equals a fresh one
        results = {c: _read_chunk(folder, c) for c in chunks}
    ordered = [results[c] for c in chunks]
    reps = pd.concat([r for r, _ in ordered], ignore_index=True)
    ests = pd.concat([e for _, e in ordered], ignore_index=True)
    return PowerResult(
        replications=reps,
        estimates=ests,
        population=_population_table(study),
        settings={
            "population": population.source,
            "analysis_model": analysis_model,
            "estimator": estimator,
            "categorized": categorized,
            "missing": (
                "observed patterns"
                if patterns is not None
                else (f"MCAR {missing_rate:g}" if missing_rate else "none")
            ),
            "n_grid": n_grid,
            "replications": replications,
            "seed": int(seed),
        },
    )


def _population_table(study: Study) -> pd.DataFrame:
    truth = study.truth
    analytic = study.estimator == "ML" and not study.categorized and not study.has_missing
    se_unit = np.full(len(truth.theta), np.nan)
    if analytic:
        with one_blas_thread():
            se_unit = np.sqrt(np.diag(np.linalg.inv(truth.information())))
    pt = truth.partable
    first = pt[pt["free"] > 0].drop_duplicates("free").sort_values("free")
    return pd.DataFrame(
        {
            "parameter": parameter_names(truth),
            "lhs": first["lhs"].to_numpy(),
            "op": first["op"].to_numpy(),
            "rhs": first["rhs"].to_numpy(),
            "population": truth.theta,
            "se_unit": se_unit,
        }
    )
