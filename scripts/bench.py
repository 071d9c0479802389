"""Benchmark of the chain: wall time and peak memory per stage, cold and no-op, default and large.

Run with ``make bench`` (or ``.venv/bin/python scripts/bench.py --help``). Everything runs in
a scratch copy of the project, so the working tree's outputs are untouched:

(a) the default site, cold (``make clean`` then each stage in chain order, fresh kernels),
    ``--runs`` times; the whole chain as users run it (``make clean; make all``, independent
    stages in parallel, one per core); a change of ``efa.n_factors`` in site.yml to a
    rebuilt report; and the no-op ``make all`` that follows;
(b) a simulated large site (``--large-n`` respondents, default 50,000, the default
    instrument, CSV export), each stage once per run;
(c) the power study's speed (``--power-only`` runs just this): replications of the default
    site's first-order model at n = 400 (rating categories drawn from its population
    model, ML), fits per second per core serially (CPU time) and with joblib on one and on
    two workers (wall time of the chunks, after the workers started);
(d) the FIML fit of the default site's first-order model (``--fiml-model``), estimates and
    standard errors, in the project and in lavaan (``cfa(missing = "ml")`` in Rscript) on
    the same data: CPU seconds (user + sys, the machine being shared) per fit, ``--fiml-runs``
    times each (``--fiml-only`` runs just this); issue 14 asks for at most 3x lavaan's time.

Each stage's wall time is split into start-up (process and kernel start, papermill: the time
outside the notebook's cells), compute (the cells, imports included: a thin notebook imports
its stage module and runs it in one cell) and output (time inside write_csv and save_figure),
from papermill's per-cell durations. Peak memory is the largest resident set of
the stage's process tree (``wait4`` rusage). Results: median and spread over the runs,
written to ``bench/results/<host>-<date>.json`` and a Markdown summary ``bench/results/latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from policestress.stages import CHAIN, downstream  # noqa: E402
from policestress.timing import TIMINGS_ENV  # noqa: E402
from policestress.verify import copy_project  # noqa: E402

DEFAULT_SITE = "y-subbureau-sim"


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of ``command`` and its completed process."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def measure_stage(project: Path, site: str, stage: str, env: dict) -> dict:
    """Run one stage through make under a fresh wrapper process, whose RUSAGE_CHILDREN
    peak resident set is then the stage's own (make, the runner and the kernel)."""
    timings = project / "build" / f"timings-{stage}.jsonl"
    timings.parent.mkdir(parents=True, exist_ok=True)
    timings.unlink(missing_ok=True)
    output_log = Path(f"{timings}.output")
    output_log.unlink(missing_ok=True)
    runner = [
        sys.executable,
        "-c",
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:]);"
        "print(json.dumps({'rc': p.returncode, 'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}), file=sys.stderr)",
        "make",
        "-o",
        ".venv/.installed",
        f"SITE={site}",
        stage,
    ]
    wall, proc = timed(runner, project, {**env, TIMINGS_ENV: str(timings)})
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    if summary["rc"] != 0:
        raise RuntimeError(
            f"stage {stage} failed for {site}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    record = json.loads(timings.read_text().splitlines()[-1])
    output_s = sum(float(x) for x in output_log.read_text().split()) if output_log.exists() else 0.0
    split = split_phases(record, wall, output_s)
    return {"stage": stage, "wall_s": wall, "peak_mib": summary["peak_kib"] / 1024, **split}


def split_phases(record: dict, wall: float, output_s: float) -> dict:
    """Start-up = wall time outside the notebook's cells; output = time inside write_csv /
    save_figure; compute = the cells' time less output (imports included)."""
    cells = [
        c for c in record["cells"] if not {"parameters", "injected-parameters"} & set(c["tags"])
    ]
    in_cells = sum(c["duration"] or 0.0 for c in cells)
    return {
        "startup_s": wall - in_cells,
        "compute_s": in_cells - output_s,
        "output_s": output_s,
    }


def whole_chain(project: Path, site: str, env: dict) -> float:
    subprocess.run(["make", "-s", f"SITE={site}", "clean"], cwd=project, check=True, env=env)
    wall, proc = timed(["make", "-o", ".venv/.installed", f"SITE={site}", "all"], project, env)
    if proc.returncode != 0:
        raise RuntimeError(f"make all failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def noop(project: Path, site: str, env: dict) -> float:
    wall, proc = timed(["make", "-o", ".venv/.installed", f"SITE={site}", "all"], project, env)
    if "policestress.stages run" in proc.stdout or "] start" in proc.stdout:
        raise RuntimeError(f"no-op make all did work:\n{proc.stdout[-2000:]}")
    return wall


EFA_CHANGE_RERUNS = ("efa", *downstream("efa"))


def efa_change(project: Path, site: str, env: dict) -> float:
    """Seconds from a change of ``efa.n_factors`` in site.yml to a rebuilt report (the chain
    reruns efa and the stages downstream of it only); the settings are restored afterwards."""
    site_file = project / "config" / "sites" / site / "site.yml"
    original = site_file.read_bytes()
    settings = yaml.safe_load(original.decode("utf-8"))
    settings.setdefault("efa", {})["n_factors"] = 4
    site_file.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    try:
        wall, proc = timed(["make", "-o", ".venv/.installed", f"SITE={site}", "all"], project, env)
        if proc.returncode != 0:
            raise RuntimeError(f"make all failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        reran = {line.split("]")[0][1:] for line in proc.stdout.splitlines() if "] start" in line}
        if reran != set(EFA_CHANGE_RERUNS):
            raise RuntimeError(f"a change of efa.n_factors reran {sorted(reran)}")
    finally:
        site_file.write_bytes(original)
        subprocess.run(
            ["make", "-o", ".venv/.installed", f"SITE={site}", "all"], cwd=project, env=env
        )
    return wall


def make_large_site(project: Path, n: int) -> str:
    name = f"bench-{n // 1000}k-sim"
    source = project / "config" / "sites" / DEFAULT_SITE
    target = project / "config" / "sites" / name
    shutil.copytree(source, target)
    settings = yaml.safe_load((target / "site.yml").read_text(encoding="utf-8"))
    settings.update(
        site=name,
        raw_file=f"data/raw/{name}/survey_export.csv",
        title_en=f"Benchmark site, {n} simulated respondents",
    )
    (target / "site.yml").write_text(
        yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    model = yaml.safe_load((target / "population_model.yml").read_text(encoding="utf-8"))
    model["n_respondents"] = n
    (target / "population_model.yml").write_text(
        yaml.safe_dump(model, sort_keys=False), encoding="utf-8"
    )
    subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", "policestress.simulate", "--site", name],
        cwd=project,
        check=True,
        env=bench_env(project),
    )
    return name


# make's own variables: `make bench` passes its jobserver down, whose descriptors the chain's
# make does not inherit ("jobserver unavailable: using -j1"); each run is a make of its own,
# as a user types it.
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def bench_env(project: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POLICESTRESS_") and k not in MAKE_VARIABLES
    }
    env["POLICESTRESS_ROOT"] = str(project)
    return env


def run_chain(project: Path, site: str, env: dict) -> list[dict]:
    subprocess.run(["make", "-s", f"SITE={site}", "clean"], cwd=project, check=True, env=env)
    return [measure_stage(project, site, stage, env) for stage in CHAIN]


def summarise(runs: list[list[dict]]) -> list[dict]:
    rows = []
    for i, stage in enumerate(CHAIN):
        row = {"stage": stage}
        for key in ("wall_s", "startup_s", "compute_s", "output_s", "peak_mib"):
            values = [run[i][key] for run in runs]
            row[key] = statistics.median(values)
            row[f"{key}_min"], row[f"{key}_max"] = min(values), max(values)
        rows.append(row)
    totals = [sum(s["wall_s"] for s in run) for run in runs]
    rows.append(
        {
            "stage": "TOTAL",
            "wall_s": statistics.median(totals),
            "wall_s_min": min(totals),
            "wall_s_max": max(totals),
            "peak_mib": max(max(s["peak_mib"] for s in run) for run in runs),
        }
    )
    return rows


def _timed_chunk(study, n: int, start: int, stop: int) -> float:
    """CPU seconds a worker spends on one chunk (its fits, not the pickling around them)."""
    from policestress.power.study import run_chunk

    begin = time.process_time()
    run_chunk(study, n, start, stop)
    return time.process_time() - begin


def power_speed(replications: int = 200, n: int = 400) -> dict:
    """Fits per second of the power study on the default site's first-order model."""
    import resource

    from policestress.config import load_site
    from policestress.power.population import population_values
    from policestress.power.site import site_design
    from policestress.power.study import Study, execute, run_chunk
    from policestress.sem.compiled import CompiledML

    cfg = load_site(DEFAULT_SITE)
    design = site_design(cfg, n_grid=[n], replications=replications)
    args = design.arguments
    start = time.perf_counter()
    truth = population_values(args["population"], args["analysis_model"], args["categorized"])
    compiled = CompiledML(truth)
    setup_s = time.perf_counter() - start
    study = Study(
        args["population"],
        args["analysis_model"],
        "ML",
        args["categorized"],
        0.0,
        None,
        args["seed"],
        truth,
        compiled,
    )
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    run_chunk(study, n, 0, replications)
    after = resource.getrusage(resource.RUSAGE_SELF)
    serial_cpu = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    out = {
        "n": n,
        "replications": replications,
        "parameters": len(truth.theta),
        "setup_s": setup_s,
        "serial_fits_per_cpu_s": replications / serial_cpu,
    }
    from joblib import Parallel, delayed

    for workers in (1, 2):
        # a warm-up starts the worker processes (loky keeps them), as a study's first chunk
        list(execute(study, [(n, 0, workers)] * workers, "joblib", workers))
        chunk = max(1, replications // (4 * workers))
        chunks = [(n, i, min(i + chunk, replications)) for i in range(0, replications, chunk)]
        start = time.perf_counter()
        for _ in execute(study, chunks, "joblib", workers):
            pass
        out[f"joblib_{workers}_fits_per_s"] = replications / (time.perf_counter() - start)
        # CPU the workers spend per fit: equal to the serial CPU per fit when the workers
        # share nothing; wall-time speed-up then follows from the free cores a machine has
        cpu = Parallel(n_jobs=workers)(delayed(_timed_chunk)(study, *c) for c in chunks)
        out[f"joblib_{workers}_fits_per_worker_cpu_s"] = replications / sum(cpu)
    out["speedup_2_workers"] = out["joblib_2_fits_per_s"] / out["joblib_1_fits_per_s"]
    return out


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fiml_speed(model_name: str = "first_order", runs: int = 3) -> dict:
    """CPU seconds of the FIML fit (estimates and SEs) of one of the default site's CFA
    models, in the project and in lavaan on the same data, with both chi-squares."""
    import resource

    from policestress import sem
    from policestress.cleaning import apply_exclusions, score
    from policestress.config import load_site
    from policestress.sem.partable import variables
    from policestress.stagework.cfa import site_models
    from policestress.validate import validate_export

    cfg = load_site(DEFAULT_SITE)
    report = validate_export(cfg)
    report.raise_for_errors()
    data = score(apply_exclusions(report.data, cfg)[0], cfg)
    model = site_models(cfg)[model_name]
    items = variables(sem.parse(model)).ov
    ours, chisq = [], None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_SELF)
        fit = sem.cfa(model, data, missing="ml", name=model_name)
        fit.parameter_estimates()
        after = resource.getrusage(resource.RUSAGE_SELF)
        ours.append((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
        chisq = float(fit.fit_measures()["chisq"])
    out = {
        "model": model_name,
        "n": fit.ntotal,
        "items": len(items),
        "parameters": fit.npar,
        "missing_cells": float(data[items].isna().to_numpy().mean()),
        "runs": runs,
        "ours_cpu_s": _spread(ours),
        "ours_chisq": chisq,
    }
    if shutil.which("Rscript") is None:
        out["lavaan_reason"] = "Rscript not found"
        return out
    with tempfile.TemporaryDirectory(prefix="bench-fiml-") as tmp:
        csv, syntax = Path(tmp) / "data.csv", Path(tmp) / "model.lavaan"
        data[items].to_csv(csv, index=False)
        syntax.write_text(model + "\n", encoding="utf-8")
        script = (
            "suppressPackageStartupMessages(library(lavaan))\n"
            f'd <- read.csv("{csv}"); m <- paste(readLines("{syntax}"), collapse = "\\n")\n'
            f"for (i in seq_len({runs})) {{\n"
            "  t <- system.time(f <- cfa(m, d, missing = 'ml'))\n"
            "  cat(t[['user.self']] + t[['sys.self']], fitMeasures(f, 'chisq'), '\\n')\n}\n"
        )
        proc = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if proc.returncode != 0:
        out["lavaan_reason"] = f"lavaan failed: {proc.stderr[-500:]}"
        return out
    lines = [line.split() for line in proc.stdout.strip().splitlines()]
    out["lavaan_cpu_s"] = _spread([float(a) for a, _ in lines])
    out["lavaan_chisq"] = float(lines[-1][1])
    out["ratio_to_lavaan"] = out["ours_cpu_s"]["median"] / out["lavaan_cpu_s"]["median"]
    return out


def fiml_markdown(r: dict) -> str:
    text = (
        f"FIML fit of the default site's {r['model']} model ({r['items']} items, "
        f"{r['parameters']} parameters, n = {r['n']}, {r['missing_cells']:.1%} of the cells "
        f"missing), estimates and SEs, CPU s over {r['runs']} run(s): project median "
        f"{r['ours_cpu_s']['median']:.2f} (min {r['ours_cpu_s']['min']:.2f}, max "
        f"{r['ours_cpu_s']['max']:.2f})"
    )
    if "lavaan_cpu_s" not in r:
        return text + f"; lavaan not timed ({r['lavaan_reason']})."
    return text + (
        f", lavaan median {r['lavaan_cpu_s']['median']:.2f} (min {r['lavaan_cpu_s']['min']:.2f}, "
        f"max {r['lavaan_cpu_s']['max']:.2f}): {r['ratio_to_lavaan']:.2f}x lavaan's time; "
        f"chi-square {r['ours_chisq']:.4f} vs lavaan's {r['lavaan_chisq']:.4f}."
    )


def power_markdown(r: dict) -> str:
    return (
        f"Power study, default site's first-order model ({r['parameters']} parameters) at "
        f"n = {r['n']}, {r['replications']} replications: {r['serial_fits_per_cpu_s']:.1f} fits "
        f"per CPU second serially; joblib {r['joblib_1_fits_per_s']:.1f} fits/s on one worker, "
        f"{r['joblib_2_fits_per_s']:.1f} on two (speed-up {r['speedup_2_workers']:.2f}; "
        f"per worker CPU second {r['joblib_1_fits_per_worker_cpu_s']:.1f} and "
        f"{r['joblib_2_fits_per_worker_cpu_s']:.1f}); "
        f"set-up {r['setup_s']:.1f} s."
    )


def markdown(title: str, rows: list[dict]) -> str:
    lines = [
        f"### {title}",
        "",
        "| stage | wall s (min-max) | start-up | compute | output | peak MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r["stage"] == "TOTAL":
            lines.append(
                f"| **total** | **{r['wall_s']:.1f}** ({r['wall_s_min']:.1f}-{r['wall_s_max']:.1f}) | | | | {r['peak_mib']:.0f} |"
            )
        else:
            lines.append(
                f"| {r['stage']} | {r['wall_s']:.1f} ({r['wall_s_min']:.1f}-{r['wall_s_max']:.1f}) | {r['startup_s']:.1f} | "
                f"{r['compute_s']:.1f} | {r['output_s']:.1f} | {r['peak_mib']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-n", type=int, default=50_000)
    parser.add_argument("--large-runs", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--power-only", action="store_true", help="only (c), the power study's speed"
    )
    parser.add_argument(
        "--power-replications", type=int, default=200, help="(c): replications timed"
    )
    parser.add_argument(
        "--note", default="", help="a line for the summary, e.g. how loaded the machine was"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="result folder"
    )
    parser.add_argument("--fiml-only", action="store_true", help="only (d), FIML vs lavaan")
    parser.add_argument("--fiml-runs", type=int, default=3, help="(d): fits timed per side")
    parser.add_argument(
        "--fiml-model", default="first_order", help="(d): which of the site's CFA models"
    )
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()[0]
    if args.fiml_only:
        result = fiml_speed(args.fiml_model, args.fiml_runs)
        print(json.dumps(result, indent=1))
        print(f"load average at start {load_at_start:.1f}: " + fiml_markdown(result))
        return 0
    if args.power_only:
        result = power_speed(args.power_replications)
        print(json.dumps(result, indent=1))
        print(f"load average at start {load_at_start:.1f}: " + power_markdown(result))
        return 0

    results: dict = {
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        project = copy_project(ROOT, Path(tmp))
        env = bench_env(project)
        cold = [run_chain(project, DEFAULT_SITE, env) for _ in range(args.runs)]
        results["default_cold"] = summarise(cold)
        chain = [whole_chain(project, DEFAULT_SITE, env) for _ in range(args.runs)]
        results["default_chain_s"] = {
            "median": statistics.median(chain),
            "min": min(chain),
            "max": max(chain),
        }
        changes = [efa_change(project, DEFAULT_SITE, env) for _ in range(args.runs)]
        results["efa_change_s"] = {
            "median": statistics.median(changes),
            "min": min(changes),
            "max": max(changes),
        }
        noops = [noop(project, DEFAULT_SITE, env) for _ in range(max(args.runs, 3))]
        results["default_noop_s"] = {
            "median": statistics.median(noops),
            "min": min(noops),
            "max": max(noops),
        }
        if not args.skip_large:
            start = time.perf_counter()
            large = make_large_site(project, args.large_n)
            results["large_simulate_s"] = time.perf_counter() - start
            results["large_n"] = args.large_n
            results["large"] = summarise(
                [run_chain(project, large, env) for _ in range(args.large_runs)]
            )

    results["power"] = power_speed(args.power_replications)
    results["fiml"] = fiml_speed(args.fiml_model, args.fiml_runs)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{platform.node() or 'host'}-{results['date']}.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    results["note"] = args.note
    results["load_average_at_start"] = load_at_start
    parts = [
        f"# Benchmark, {results['date']} ({results['machine']['cpus']} cores, Python {results['machine']['python']})",
        "",
        f"Load average when the benchmark started: {load_at_start:.1f} (1 min). {args.note}".strip(),
        "",
        markdown(
            f"Default site, cold, {args.runs} runs (median, min-max)", results["default_cold"]
        ),
        "",
        f"Whole chain, `make clean; make all` ({results['machine']['cpus']} stages in parallel): median "
        f"{results['default_chain_s']['median']:.1f} s (min {results['default_chain_s']['min']:.1f}, "
        f"max {results['default_chain_s']['max']:.1f}).",
        "",
        f"A change of `efa.n_factors` to a rebuilt report ({', '.join(EFA_CHANGE_RERUNS)} "
        f"rerun): median "
        f"{results['efa_change_s']['median']:.1f} s (min {results['efa_change_s']['min']:.1f}, "
        f"max {results['efa_change_s']['max']:.1f}).",
        "",
        f"No-op `make all`: median {results['default_noop_s']['median']:.2f} s (min {results['default_noop_s']['min']:.2f}, max {results['default_noop_s']['max']:.2f}).",
    ]
    parts += ["", power_markdown(results["power"]), "", fiml_markdown(results["fiml"])]
    if "large" in results:
        parts += [
            "",
            markdown(
                f"Simulated large site, {results['large_n']} respondents, {args.large_runs} run(s)",
                results["large"],
            ),
            "",
            f"(Drawing the large export took {results['large_simulate_s']:.1f} s, not counted above.)",
        ]
    (out_dir / "latest.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print("\n".join(parts))
    print(f"\nwritten: {json_path}, {out_dir / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
