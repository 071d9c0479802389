"""Benchmark of the ordinal estimators (issue 18): polychoric matrix and WLSMV fit vs lavaan.

Run with ``make bench`` (after the chain benchmark) or
``.venv/bin/python scripts/bench_ordinal.py --help``. On the default (simulated) site's
analysis data, built in-process as stage 00 builds it:

(a) the polychoric matrix (thresholds and correlations, pairwise) of the 45 stress-source
    items, without and with lavaan's asymptotic covariance matrix (NACOV);
(b) the WLSMV fit of the first-order model (``missing = "pairwise"``), with fit measures and
    robust SEs, and the same fit by lavaan (``cfa(ordered = TRUE, estimator = "WLSMV")``,
    ``fitMeasures`` and ``parameterEstimates`` timed inside R, so R's start-up is left out).

Each is run ``--runs`` times; the median, min and max wall times go to
``bench/results/ordinal-<host>-<date>.json`` and ``bench/results/ordinal.md`` (targets: (a)
within 2 s, (b) within 3x lavaan's time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policestress import cfa, sem  # noqa: E402
from policestress.cleaning import apply_exclusions, score  # noqa: E402
from policestress.config import load_site  # noqa: E402
from policestress.polychoric import polychoric  # noqa: E402
from policestress.stagework.cfa import site_models  # noqa: E402
from policestress.validate import validate_export  # noqa: E402

SITE = "y-subbureau-sim"
R_SCRIPT = """
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}", check.names = FALSE)
model <- paste(readLines("{model}", warn = FALSE), collapse = "\\n")
times <- numeric(0)
for (i in seq_len({runs})) {{
  t <- system.time({{
    fit <- cfa(model, d, ordered = TRUE, estimator = "WLSMV", missing = "pairwise")
    fm <- fitMeasures(fit, c("chisq.scaled", "cfi.scaled", "rmsea.scaled"))
    pe <- parameterEstimates(fit)
  }})[["elapsed"]]
  times <- c(times, t)
}}
cat(paste(c(times, fm), collapse = " "), "\\n")
"""


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _timed(fun, runs: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fun()
        times.append(time.perf_counter() - start)
    return times, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-r", action="store_true", help="leave out the lavaan timing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()[0]
    cfg = load_site(SITE)
    report = validate_export(cfg)
    report.raise_for_errors()
    kept, _, _ = apply_exclusions(report.data, cfg)
    data = score(kept, cfg)
    model = site_models(cfg)["first_order"]
    items = sorted(set(cfa.parse_syntax(model)["rhs"]) & set(data.columns))

    poly_s, _ = _timed(lambda: polychoric(data[items], acov=False), args.runs)
    poly_acov_s, _ = _timed(lambda: polychoric(data[items]), args.runs)

    def fit_ours():
        fit = sem.cfa(model, data, ordered=True, estimator="WLSMV", missing="pairwise")
        fit.fit_measures()
        fit.parameter_estimates()
        return fit

    ours_s, fit = _timed(fit_ours, args.runs)
    fm = fit.fit_measures()
    results = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": load_at_start,
        "n": int(len(data)),
        "items": len(items),
        "polychoric_s": _stats(poly_s),
        "polychoric_with_nacov_s": _stats(poly_acov_s),
        "wlsmv_first_order_s": _stats(ours_s),
        "wlsmv_first_order": {
            k: float(fm[k]) for k in ("chisq.scaled", "cfi.scaled", "rmsea.scaled")
        },
    }
    if not args.skip_r:
        with tempfile.TemporaryDirectory() as tmp:
            data_path, model_path = Path(tmp) / "d.csv", Path(tmp) / "m.lavaan"
            data[items].to_csv(data_path, index=False)
            model_path.write_text(model, encoding="utf-8")
            script = Path(tmp) / "bench.R"
            script.write_text(
                R_SCRIPT.format(data=data_path, model=model_path, runs=args.runs),
                encoding="utf-8",
            )
            out = subprocess.run(
                ["Rscript", str(script)], capture_output=True, text=True, check=True
            ).stdout.split()
        r_times = [float(x) for x in out[: args.runs]]
        results["lavaan_first_order_s"] = _stats(r_times)
        results["lavaan_first_order"] = dict(
            zip(
                ("chisq.scaled", "cfi.scaled", "rmsea.scaled"),
                map(float, out[args.runs :]),
                strict=True,
            )
        )
        results["ratio_ours_to_lavaan"] = (
            results["wlsmv_first_order_s"]["median"] / results["lavaan_first_order_s"]["median"]
        )
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"ordinal-{platform.node() or 'host'}-{results['date']}.json"
    (args.out / name).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Ordinal estimators, {results['date']} ({os.cpu_count()} cores; load average "
        f"{load_at_start:.1f} at the start; {args.runs} runs, median (min-max))",
        "",
        f"Default site, n = {results['n']}, {len(items)} stress-source items:",
        "",
        "| task | ours (s) | lavaan (s) |",
        "| --- | --- | --- |",
    ]

    def cell(key):
        s = results.get(key)
        return f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})" if s else "not run"

    lines += [
        f"| polychoric matrix (thresholds, correlations) | {cell('polychoric_s')} | |",
        f"| ... with the NACOV | {cell('polychoric_with_nacov_s')} | |",
        f"| WLSMV fit, first-order model, fit measures and SEs | {cell('wlsmv_first_order_s')} "
        f"| {cell('lavaan_first_order_s')} |",
    ]
    if "ratio_ours_to_lavaan" in results:
        lines += ["", f"Ours / lavaan: {results['ratio_ours_to_lavaan']:.2f}."]
    (args.out / "ordinal.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
