"""Draw a simulated survey export from a site's documented population model.

The thesis data are not public. A simulated site's ``population_model.yml`` describes the
latent structure (see the comments in that file); :func:`simulate_responses` draws item
responses from it and :func:`write_export` writes them in the shape of an online-survey
Excel export (Chinese headers from the codebook, metadata columns, a sheet that says the data
are simulated). Same seed, same bytes.

Run ``python -m policestress.simulate --site y-subbureau-sim`` (``make simulate``).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from policestress.config import ConfigError, SiteConfig, load_site

SIMULATED_NOTE = (
    "SIMULATED DATA - drawn from a documented population model "
    "(config/sites/{site}/population_model.yml); not responses of real police officers. "
    "模拟数据：由总体模型生成，并非真实民警的作答。"
)


def load_population_model(site: SiteConfig) -> dict:
    name = site.settings.get("population_model")
    if not name:
        raise ValueError(f"site {site.name} has no population_model: it is not a simulated site")
    return yaml.safe_load((site.paths.config_dir / name).read_text(encoding="utf-8"))


def _categorical(rng: np.random.Generator, probs: dict, size: int) -> np.ndarray:
    codes = np.array(list(probs), dtype=int)
    p = np.array(list(probs.values()), dtype=float)
    return rng.choice(codes, size=size, p=p / p.sum())


def _conditional(rng: np.random.Generator, table: dict, given: np.ndarray) -> np.ndarray:
    out = np.empty(given.shape[0], dtype=int)
    for value, probs in table.items():
        mask = given == int(value)
        out[mask] = _categorical(rng, probs, int(mask.sum()))
    return out


def _draw_demographics(rng: np.random.Generator, spec: dict, n: int) -> pd.DataFrame:
    """Demographics in the order listed; ``{given: other, table: {...}}`` draws conditionally."""
    demo = pd.DataFrame(index=range(n))
    for name, probs in spec.items():
        if "given" in probs:
            demo[name] = _conditional(rng, probs["table"], demo[probs["given"]].to_numpy())
        else:
            demo[name] = _categorical(rng, probs, n)
    return demo


def _standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _cut(latent: np.ndarray, thresholds: list[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(thresholds), latent) + 1


def simulate_latents(
    model: dict, demo: pd.DataFrame, rng: np.random.Generator, site: SiteConfig
) -> dict:
    """Latent scores per construct (stress sources, ERI, outcome, relief), by respondent."""
    n = len(demo)
    domains = site.codebook.domains("stress_sources")
    domain_names = list(domains)
    phi = np.asarray(model["domain_correlations"], dtype=float)
    domain_scores = rng.multivariate_normal(np.zeros(len(domain_names)), phi, size=n)
    domain = {d: domain_scores[:, i] for i, d in enumerate(domain_names)}

    latent: dict[str, np.ndarray] = {}
    standardized: dict[str, np.ndarray] = {}
    sd_spec = model["construct_sd"]
    for d, constructs in domains.items():
        for c in constructs:
            gamma = model["second_order_loading"][c]
            z = gamma * domain[d] + np.sqrt(1 - gamma**2) * rng.standard_normal(n)
            standardized[c] = z
            shift = np.zeros(n)
            for variable, effects in model.get("group_effects", {}).items():
                if c in effects:
                    shift += (
                        demo[variable].map({int(k): v for k, v in effects[c].items()}).to_numpy()
                    )
            latent[c] = model["construct_mean"][c] + sd_spec.get(c, sd_spec["default"]) * z + shift

    eri = model.get("eri", {})
    for c in ("effort", "reward", "overcommitment") if eri else ():
        parts = eri[c]
        signal = sum(w * (domain[k] if k in domain else standardized[k]) for k, w in parts.items())
        explained = float(np.var(signal))
        z = signal + np.sqrt(max(1 - explained, 0.05)) * rng.standard_normal(n)
        standardized[c] = _standardize(z)
        latent[c] = eri["mean"][c] + standardized[c]

    out = model.get("outcome")
    if out:
        signal = sum(w * _standardize(latent[k]) for k, w in out["weights"].items())
        signal = _standardize(signal) * np.sqrt(out["r_squared"])
        noise = np.sqrt(1 - out["r_squared"]) * rng.standard_normal(n)
        latent["perceived_stress"] = out["mean"] + signal + noise

    relief = model.get("relief", {})
    for c, parts in relief.items():
        if c == "mean":
            continue
        signal = sum(w * domain[k] for k, w in parts.items())
        noise = np.sqrt(1 - float(np.var(signal))) * rng.standard_normal(n)
        latent[c] = relief["mean"] + signal + noise
    return latent


def simulate_responses(
    site: SiteConfig, seed: int | None = None, n: int | None = None
) -> pd.DataFrame:
    """Draw one simulated questionnaire per row, columns = codebook item ids (raw coding).

    Reverse-keyed items are written reversed, as respondents would answer them; careless
    responders, speeders, break-offs and duplicate submissions are mixed in as the population
    model's ``response_quality`` says. ``seed`` and ``n`` override the site's seed and the
    model's ``n_respondents`` (tests draw large samples to check that the model is recovered).

    Examples
    --------
    >>> from policestress.config import load_site
    >>> frame = simulate_responses(load_site("y-subbureau-sim"))
    >>> frame.shape[0] > 400
    True
    """
    model = load_population_model(site)
    rng = np.random.default_rng(site.seed if seed is None else seed)
    n = int(model["n_respondents"] if n is None else n)
    demo = _draw_demographics(rng, model["demographics"], n)
    latent = simulate_latents(model, demo, rng, site)

    items = site.codebook.items()
    loading = model["item_loading"]
    responses = pd.DataFrame(index=range(n))
    cross_loadings = model.get("cross_loadings", {})
    for row in items.itertuples():
        lam = loading["default"] + rng.uniform(-loading["spread"], loading["spread"])
        eta = latent[row.construct]
        noise = rng.standard_normal(n)
        # item = lambda * construct (keeping its mean and group shifts)
        #        + minor cross-loadings on other constructs (centred) + residual
        cross = cross_loadings.get(row.item_id, {})
        signal = sum(w * (latent[c] - latent[c].mean()) for c, w in cross.items())
        residual_sd = np.sqrt(1 - lam**2 - sum(w**2 for w in cross.values()))
        y = lam * eta + signal + residual_sd * noise
        k = int(row.max) - int(row.min) + 1
        codes = _cut(y, model["thresholds"][k]) + int(row.min) - 1
        if row.reverse:
            codes = int(row.min) + int(row.max) - codes
        responses[row.item_id] = codes
    attention = site.get("exclusions.attention_check")
    if attention:
        responses[attention["item"]] = int(attention["expected"])
    responses = pd.concat([demo, responses], axis=1)

    quality = model["response_quality"]
    duration = np.exp(
        np.log(quality["duration_seconds"]["median"])
        + quality["duration_seconds"]["sigma"] * rng.standard_normal(n)
    )
    responses["duration"] = np.round(duration).astype(int)

    scored = items["item_id"].tolist()
    stress_items = site.codebook.item_ids("stress_sources")
    order = rng.permutation(n)
    cursor = 0

    def take(count: int) -> np.ndarray:
        nonlocal cursor
        chosen = order[cursor : cursor + count]
        cursor += count
        return chosen

    for i in take(quality.get("straightliners", 0)):
        responses.loc[i, stress_items] = int(rng.integers(1, 6))
        if attention:
            responses.loc[i, attention["item"]] = responses.loc[i, stress_items[0]]
    for i in take(quality.get("random_responders", 0)):
        for row in items.itertuples():
            responses.loc[i, row.item_id] = int(rng.integers(int(row.min), int(row.max) + 1))
        if attention:
            responses.loc[i, attention["item"]] = int(rng.integers(1, 6))
    for i in take(quality.get("speeders", 0)):
        responses.loc[i, "duration"] = int(rng.integers(60, 171))
    responses = responses.astype({c: "float64" for c in scored})
    for i in take(quality.get("break_offs", 0)):
        responses.loc[i, scored[len(scored) // 2 :]] = np.nan
    # Item nonresponse concentrates in a minority of respondents (most online forms are
    # answered in full): each item's missing rate is reached within that minority.
    low, high = quality["item_missing_rate"]
    share = float(quality.get("incomplete_share", 1.0))
    skippers = rng.random(n) < share
    for item in scored:
        rate = rng.uniform(low, high)
        responses.loc[skippers & (rng.random(n) < rate / share), item] = np.nan

    duplicates = responses.loc[take(quality.get("duplicates", 0))].copy()
    responses = pd.concat([responses, duplicates], ignore_index=True)

    start = pd.Timestamp("2023-10-09 08:00:00")
    offsets = np.sort(rng.uniform(0, 14 * 24 * 3600, size=len(responses)))
    responses["submit_time"] = [
        (start + pd.Timedelta(seconds=float(s))).strftime("%Y/%m/%d %H:%M:%S") for s in offsets
    ]
    responses["source"] = rng.choice(
        ["微信", "手机提交", "链接"], size=len(responses), p=[0.7, 0.2, 0.1]
    )
    id_item = site.codebook.items(types=("id",))["item_id"].iloc[0]
    responses[id_item] = np.arange(1, len(responses) + 1)
    return responses


def to_export_frame(responses: pd.DataFrame, site: SiteConfig) -> pd.DataFrame:
    """Rename item ids to the export headers and format metadata like an online-survey export."""
    table = site.codebook.table
    frame = responses.copy()
    frame["duration"] = frame["duration"].astype(int).astype(str) + "秒"
    header = dict(zip(table["item_id"], table["header"], strict=True))
    columns = [c for c in table["item_id"] if c in frame.columns]
    return frame[columns].rename(columns=header)


def _deterministic_xlsx(frame: pd.DataFrame, note: str) -> bytes:
    """xlsx bytes with fixed zip timestamps and document properties (same data, same bytes)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Sheet1", index=False)
        pd.DataFrame({"说明 / note": [note]}).to_excel(writer, sheet_name="说明", index=False)
        props = writer.book.properties
        props.creator = "policestress simulator"
        props.created = props.modified = pd.Timestamp("2023-10-23").to_pydatetime()
        props.lastModifiedBy = "policestress simulator"
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in sorted(source.namelist()):
            content = source.read(name)
            if name == "docProps/core.xml":
                # openpyxl stamps the save time into `modified`, whatever was set before
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2023-10-23T00:00:00Z\g<2>",
                    content,
                )
            info = zipfile.ZipInfo(name, date_time=(2023, 10, 23, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, content)
    return out.getvalue()


def write_export(site: SiteConfig, path: Path | None = None, seed: int | None = None) -> Path:
    """Simulate the site and write its export (``site.raw_file`` unless ``path`` is given).

    The format follows the file extension: ``.xlsx`` (with a 说明 sheet saying the data are
    simulated), ``.csv`` (UTF-8 with BOM, a first comment line saying so) or ``.sav``
    (the note in the file label).
    """
    path = Path(path or site.raw_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = to_export_frame(simulate_responses(site, seed), site)
    note = SIMULATED_NOTE.format(site=site.name)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        path.write_bytes(_deterministic_xlsx(frame, note))
    elif suffix == ".csv":
        path.write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8-sig")
    elif suffix == ".sav":
        import pyreadstat

        # Variable names are the item ids, labels the question text (the export's header),
        # value labels those of the codebook: an SPSS file as a designed questionnaire gives.
        header_to_item = dict(
            zip(site.codebook.table["header"], site.codebook.table["item_id"], strict=True)
        )
        sav = frame.rename(columns=header_to_item)
        value_labels = {
            item: labels
            for item in sav.columns
            if (labels := site.codebook.value_labels(item, site.language))
        }
        pyreadstat.write_sav(
            sav,
            str(path),
            file_label=note[:60],
            column_labels=dict(zip(sav.columns, frame.columns, strict=True)),
            variable_value_labels=value_labels,
        )
        # The SPSS header stamps the creation date and time (bytes 92-108): fix them.
        data = bytearray(path.read_bytes())
        data[92:109] = b"23 Oct 2300:00:00"
        path.write_bytes(bytes(data))
    else:
        raise ValueError(f"{path}: unknown export format {suffix!r} (xlsx, csv or sav)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.simulate", description=__doc__)
    parser.add_argument("--site", required=True)
    parser.add_argument("--out", type=Path, help="write here instead of the site's raw_file")
    args = parser.parse_args(argv)
    try:
        site = load_site(args.site)
    except ConfigError as error:
        # the message names the file and the key; a traceback would bury it
        print(f"not drawn: {error}", file=sys.stderr)
        return 2
    path = write_export(site, args.out)
    print(f"wrote simulated export {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
