"""The typed schema of ``site.yml``: every key's type, default and one line of help, in one place.

Each section of ``site.yml`` is a dataclass below; each field is one key, declared with
:func:`key` (its default, its help and optional bounds). :func:`check_settings` checks a
parsed ``site.yml`` against the schema before any stage runs: an unknown key is an error
with a "did you mean", a value of the wrong type or outside its bounds is an error naming
the key and the file. :func:`lookup` gives a key's value, or the schema's default when the
file leaves it out. The README's table of keys is :func:`key_table` (a test keeps the two
equal).

Examples
--------
>>> check_settings({"raw_file": "x.csv", "codebook": ["c.csv"], "privacy": {"min_cell": 3}}, "site.yml")["privacy"]
{'min_cell': 3}
>>> check_settings({"raw_file": "x.csv", "codebook": ["c.csv"], "privacy": {"min_cel": 3}}, "site.yml")
Traceback (most recent call last):
...
policestress.settings.ConfigError: site.yml: unknown key 'privacy.min_cel' (did you mean 'privacy.min_cell'?)
>>> lookup({}, "privacy.min_cell")
5
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

REQUIRED: Any = dataclasses.MISSING


class ConfigError(ValueError):
    """A site configuration or codebook breaks a rule; the message names file and field."""


def key(
    default: Any,
    help: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
) -> Any:
    """One site.yml key: its default (``REQUIRED`` when it has none), help and bounds
    (``ge``/``le`` inclusive, ``gt``/``lt`` strict)."""
    metadata = {"help": help, "ge": ge, "le": le, "gt": gt, "lt": lt}
    if default is REQUIRED:
        return field(metadata=metadata)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    """A nested section of keys (a dataclass of its own)."""
    return field(default_factory=cls, metadata={"help": help})


# ----------------------------------------------------------------------------- the schema
@dataclass(kw_only=True)
class Validation:
    min_respondents: int = key(
        100, "fewer respondents than this is an error (factor analyses need enough)", ge=1
    )


@dataclass(kw_only=True)
class AttentionCheck:
    item: str = key(REQUIRED, "item id of the instructed-response item")
    expected: int = key(REQUIRED, "the answer it asks for")


@dataclass(kw_only=True)
class Straightlining:
    instrument: str = key(REQUIRED, "instrument whose items are checked")
    max_same_answer_fraction: float = key(
        REQUIRED, "share of one answer above which a respondent is excluded", ge=0, le=1
    )


@dataclass(kw_only=True)
class Exclusions:
    duplicates: bool = key(
        False, "identical answers on every question: keep the first submission only"
    )
    attention_check: AttentionCheck | None = key(
        None, "exclude respondents who fail the attention-check item (`item`, `expected`)"
    )
    max_missing_fraction: float | None = key(
        None, "exclude respondents with more unanswered scored items than this share", ge=0, le=1
    )
    straightlining: Straightlining | None = key(
        None, "exclude straight-liners (`instrument`, `max_same_answer_fraction`)"
    )
    min_duration_seconds: float | None = key(
        None, "exclude completions faster than this (about 2 s per question)", ge=0
    )


@dataclass(kw_only=True)
class Scoring:
    min_answered_fraction: float = key(
        0.66, "a scale score needs at least this share of its items answered", ge=0, le=1
    )


@dataclass(kw_only=True)
class Eri:
    missing_rule: Literal["complete", "prorate"] = key(
        "prorate", "ERI scales with unanswered items: `complete` cases only, or `prorate`"
    )
    max_missing: int = key(1, "prorate: at most this many unanswered items per ERI scale", ge=0)
    ratio_cutoff: float = key(1.0, "effort-reward ratio above which imbalance is flagged", ge=0)
    oc_cutoff: Literal["tertile"] | float = key(
        "tertile", "high overcommitment: `tertile` (upper third) or a number on the OC sum scale"
    )
    covariates: list[str] = key(["gender", "age_band"], "covariates adjusting the ERI odds ratios")
    stress_cutoff: float = key(4.0, "high perceived stress: outcome scale mean >= this")
    stress_outcome: str | None = key(
        None, "outcome column of the ERI odds ratios (default: the codebook's outcome score)"
    )


@dataclass(kw_only=True)
class Privacy:
    min_cell: int = key(5, "cells with fewer respondents are suppressed in published tables", ge=1)


@dataclass(kw_only=True)
class Reliability:
    threshold: float = key(0.70, "Cronbach's alpha / omega below this is flagged", ge=0, le=1)
    ordinal: bool = key(
        False, "also ordinal alpha and omega (items as ordered categories: polychoric, WLSMV)"
    )


@dataclass(kw_only=True)
class Descriptives:
    skew_type: Literal[1, 2, 3] = key(2, "skewness and kurtosis estimator (type 2 = SPSS)")
    correlation_method: Literal["pearson", "spearman"] = key(
        "pearson", "correlations between scale scores"
    )


@dataclass(kw_only=True)
class Groups:
    correction: Literal["holm", "bonferroni", "fdr_bh", "none"] = key(
        "holm", "multiple-comparison correction of the group comparisons"
    )


@dataclass(kw_only=True)
class EfaFlags:
    min_communality: float = key(0.20, "flag items with a lower communality", ge=0, le=1)
    min_primary: float = key(0.40, "flag items whose largest loading is lower", ge=0, le=1)
    max_secondary: float = key(0.30, "flag items with a cross-loading above this", ge=0, le=1)
    min_gap: float = key(0.20, "flag items whose two largest loadings are closer", ge=0, le=1)


@dataclass(kw_only=True)
class Efa:
    n_factors: int | None = key(None, "number of factors (default: parallel analysis)", ge=1)
    extraction: Literal["minres", "ml", "pa"] = key("minres", "factor extraction (psych::fa fm)")
    rotation: Literal["oblimin", "promax", "varimax", "none"] = key(
        "oblimin", "rotation (psych::fa rotate)"
    )
    parallel_iter: int = key(1000, "random data sets of the parallel analysis", ge=1)
    parallel_percentile: float = key(
        95.0, "percentile of the random eigenvalues to exceed", gt=0, lt=100
    )
    factor_eigen: Literal["smc", "fa"] = key(
        "smc",
        "diagonal of the reduced matrix whose eigenvalues parallel analysis compares: squared "
        "multiple correlations (smc), or one-factor minres communalities (fa, psych's default)",
    )
    cor: Literal["pearson", "poly"] = key(
        "pearson",
        "correlations factored and used in parallel analysis: `pearson`, or `poly` "
        "(polychoric, as psych's `cor = poly`: items with few ordered categories)",
    )
    flags: EfaFlags = section(EfaFlags, "thresholds of the item flags")
    spss_n_components: int | None = key(
        None, "components of the SPSS-style PCA tables (default: the EFA's count)", ge=1
    )
    spss_blank_below: float = key(
        0.40, "SPSS-style rotated matrix: blank loadings below this", ge=0, le=1
    )


@dataclass(kw_only=True)
class Cfa:
    models: dict[str, str] = key(
        {}, "model name -> lavaan model file (relative to the site folder): replaces or adds"
    )
    include: list[str] | None = key(None, "models to fit, in this order (default: all)")
    chosen_model: str = key("second_order", "the model whose estimates and validity are reported")
    top_modindices: int = key(20, "modification indices listed", ge=0)
    allow_negative_variances: bool = key(True, "report Heywood cases instead of refusing the fit")
    estimator: Literal["ML", "MLR", "MLM", "WLSMV", "ULSMV"] = key(
        "ML",
        "lavaan estimator: ML, robust MLR / MLM (Satorra-Bentler), or WLSMV / ULSMV "
        "(items as ordered categories: polychoric correlations; CFA and invariance stages)",
    )
    missing: Literal["listwise", "ml", "pairwise"] = key(
        "ml",
        "item nonresponse: `listwise` deletion, full-information `ml`, or `pairwise` "
        "(WLSMV / ULSMV only; with them `ml` means pairwise, as they have no FIML)",
    )


@dataclass(kw_only=True)
class Invariance:
    groups: list[str] | None = key(
        None, "grouping variables to test (default: `grouping`, those with two large groups)"
    )
    min_group_size: int = key(
        100, "groups with fewer complete cases are left out (stated in the output)", ge=2
    )
    merge: dict[str, dict[int, int]] = key(
        {}, "merge categories before testing: {variable: {old code: new code}}"
    )
    model: str | None = key(
        None, "measurement model in lavaan syntax, or `domains` (default: from the codebook)"
    )
    steps: list[Literal["configural", "metric", "scalar", "strict"]] = key(
        ["configural", "metric", "scalar", "strict"], "invariance steps, in order"
    )
    partial: list[str] | dict[str, list[str]] | None = key(
        None, "parameters freed in every group (a list, or {variable: [parameters]})"
    )


@dataclass(kw_only=True)
class Finding:
    finding: int = key(REQUIRED, "number of the claim")
    claim_en: str = key(REQUIRED, "the claim in English")
    claim_zh: str = key("", "the claim in Chinese")
    sources: list[str] = key(REQUIRED, "constructs and domains the claim names, first = primary")


@dataclass(kw_only=True)
class Synthesis:
    outcome: str | None = key(
        None,
        "outcome column regressed on the sources (default: the codebook's outcome score; "
        "none: stage skipped)",
    )
    n_boot: int = key(1000, "bootstrap resamples of the relative importance", ge=1)
    ci: float = key(0.95, "level of the bootstrap intervals", gt=0, lt=1)
    n_jobs: int = key(-1, "parallel bootstrap workers (-1: every core)")
    findings: list[Finding] = key(
        [], "the site's claims to test against the ranking (none: no claims table)"
    )


@dataclass(kw_only=True)
class Power:
    in_all: bool = key(False, "`make all` runs the power study too (else only `make power`)")
    population: Literal["auto", "population_model", "fitted"] = key(
        "auto",
        "population: the site's `population_model`, or the CFA `model` `fitted` to the data "
        "(`auto`: the population model when the site has one)",
    )
    model: str = key("first_order", "CFA model (a name of `cfa.models` or the codebook's) fitted")
    n_grid: list[int] = key([100, 200, 300, 400, 500], "sample sizes simulated")
    replications: int = key(200, "simulated samples per sample size", ge=1)
    data: Literal["continuous", "categories"] = key(
        "categories", "items drawn `continuous`, or cut into the codebook's rating `categories`"
    )
    missing: Literal["none", "mcar", "observed"] = key(
        "none",
        "missing answers: `none`, `mcar` at `missing_rate`, or the data's `observed` patterns",
    )
    missing_rate: float = key(0.02, "`mcar`: share of answers missing", ge=0, le=0.9)
    estimator: Literal["ML", "MLR", "FIML", "WLSMV"] = key(
        "ML",
        "ML (complete cases), MLR (robust; FIML with missing answers), FIML, or WLSMV "
        "(the categories as ordered; needs `data: categories`)",
    )
    target_power: float = key(0.80, "power the required n must reach", ge=0, le=1)
    target_convergence: float = key(0.95, "convergence rate the required n must reach", ge=0, le=1)
    backend: Literal["serial", "joblib", "dask"] = key(
        "joblib", "`serial`, `joblib` processes on this machine, or a `dask` cluster"
    )
    n_jobs: int = key(-1, "joblib / local Dask workers (-1: every core)")
    scheduler: str | None = key(
        None, "dask: the scheduler's address (tcp://host:8786); none: a local cluster"
    )
    chunk_size: int = key(25, "replications per task and per checkpoint file", ge=1)


@dataclass(kw_only=True)
class Report:
    language: Literal["zh", "en"] | None = key(None, "report language (default: `language`)")
    loading_cutoff: float = key(
        0.30,
        "EFA loadings with a smaller absolute value are blank in the thesis tables",
        ge=0,
        le=1,
    )
    pdf: bool = key(True, "print report.pdf with headless Chromium (Debian package chromium)")


@dataclass(kw_only=True)
class SiteSettings:
    site: str | None = key(None, "the site's name (the folder name)")
    title_en: str | None = key(None, "title of the report in English")
    title_zh: str | None = key(None, "title of the report in Chinese")
    simulated: bool = key(False, "true for simulated sites: every output carries a banner")
    population_model: str = key(
        "population_model.yml", "simulated sites: the simulator's population model"
    )
    language: Literal["zh", "en"] = key("en", "labels in thesis tables and figures")
    seed: int = key(0, "the one seed for the simulator, parallel analysis and bootstraps")
    raw_file: str = key(REQUIRED, "the survey export, path from the project root")
    raw_format: Literal["auto", "csv", "xlsx", "sav"] = key(
        "auto", "format of the export (`auto`: by extension)"
    )
    sheet: int | str = key(0, "Excel sheet (name or position)")
    encoding: str = key("auto", "CSV encoding (`auto` tries UTF-8, then GBK)")
    header_row: int = key(1, "row of the export that holds the headers (title rows above)", ge=1)
    missing_values: list[str | int] = key(
        [], 'answers read as missing in every column, e.g. ["NA", "", -99]'
    )
    id: Literal["column", "generate"] = key(
        "column", "respondent id: the codebook's `id` column, or `generate` (row numbers)"
    )
    codebook: list[str] = key(REQUIRED, "codebook files (one per instrument), relative to the site")
    constructs: str = key("constructs.csv", "labels of constructs and domains")
    ignore_columns: list[str] = key(
        [], "export columns dropped before every check (identifiers, unused questions)"
    )
    grouping: list[str] = key([], "demographic variables of the group comparisons")
    validation: Validation = section(Validation, "checks of the raw export")
    exclusions: Exclusions = section(Exclusions, "cleaning rules, applied in the order written")
    scoring: Scoring = section(Scoring, "scale scores")
    eri: Eri = section(Eri, "effort-reward imbalance scoring")
    privacy: Privacy = section(Privacy, "disclosure control")
    reliability: Reliability = section(Reliability, "reliability")
    descriptives: Descriptives = section(Descriptives, "descriptive statistics")
    groups: Groups = section(Groups, "group comparisons")
    efa: Efa = section(Efa, "exploratory factor analysis")
    cfa: Cfa = section(Cfa, "confirmatory factor analysis")
    invariance: Invariance = section(Invariance, "measurement invariance")
    synthesis: Synthesis = section(Synthesis, "ranking of the stress sources")
    power: Power = section(Power, "sample-size planning by Monte Carlo simulation (`make power`)")
    report: Report = section(Report, "report.html")


# ------------------------------------------------------------------------------ checking
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "nothing (null)"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is list:
        inner = typing.get_args(hint)[0]
        plural = {int: "integers", float: "numbers", str: "texts"}
        if inner in plural:
            return f"a list of {plural[inner]}"
        return f"a list, each {_describe(inner)}"
    if origin is dict:
        k, v = typing.get_args(hint)
        return f"a mapping of {_describe(k)} to {_describe(v)}"
    if dataclasses.is_dataclass(hint):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(hint))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a text"}[hint]


class _Mismatch(Exception):
    def __init__(self, path: str, hint: Any, value: Any) -> None:
        self.path, self.hint, self.value = path, hint, value


def _coerce(value: Any, hint: Any, path: str, errors: list[str], file: str) -> Any:
    """``value`` checked against ``hint``; raises _Mismatch, appends unknown keys to errors."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, path, errors, file)
            except _Mismatch:
                continue
        raise _Mismatch(path, hint, value)
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch(path, hint, value)
    if origin is Literal:
        # 1 == True in Python: a Literal of numbers must not accept a boolean.
        if not isinstance(value, bool) and value in typing.get_args(hint):
            return value
        raise _Mismatch(path, hint, value)
    if origin is list:
        if not isinstance(value, list):
            raise _Mismatch(path, hint, value)
        (inner,) = typing.get_args(hint)
        return [_coerce(v, inner, f"{path}[{i}]", errors, file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch(path, hint, value)
        key_hint, value_hint = typing.get_args(hint)
        return {
            _coerce(k, key_hint, f"{path} key", errors, file): _coerce(
                v, value_hint, f"{path}.{k}", errors, file
            )
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _Mismatch(path, hint, value)
        return _check_section(value, hint, path, errors, file)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if isinstance(value, int) else value
    elif hint is str:
        if isinstance(value, str):
            return value
    raise _Mismatch(path, hint, value)


def _check_section(
    values: dict, cls: type, prefix: str, errors: list[str], file: str
) -> dict[str, Any]:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            known = [f"{prefix}.{f}" if prefix else f for f in fields]
            close = difflib.get_close_matches(path, known, n=1, cutoff=0.6)
            hint = (
                f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"
            )
            errors.append(f"{file}: unknown key '{path}'{hint}")
            continue
        spec = fields[name]
        try:
            checked = _coerce(value, hints[name], path, errors, file)
        except _Mismatch as bad:
            errors.append(
                f"{file}: key '{bad.path}' must be {_describe(bad.hint)}, not {bad.value!r}"
            )
            continue
        if isinstance(checked, (int, float)) and not isinstance(checked, bool):
            broken = _bounds_broken(checked, spec.metadata)
            if broken:
                errors.append(f"{file}: key '{path}' must be {broken}, not {checked!r}")
                continue
        out[name] = checked
    for name, spec in fields.items():
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if required and name not in values:
            path = f"{prefix}.{name}" if prefix else name
            errors.append(f"{file}: missing key '{path}' ({spec.metadata['help']})")
    return out


_BOUNDS = {
    "ge": (">=", lambda x, b: x >= b),
    "le": ("<=", lambda x, b: x <= b),
    "gt": (">", lambda x, b: x > b),
    "lt": ("<", lambda x, b: x < b),
}


def _bounds_broken(value: float, metadata: Mapping[str, Any]) -> str:
    """The key's bounds ("> 0 and < 100") when ``value`` breaks one of them, else ''."""
    bounds = {k: metadata[k] for k in _BOUNDS if metadata.get(k) is not None}
    if all(_BOUNDS[k][1](value, b) for k, b in bounds.items()):
        return ""
    return " and ".join(f"{_BOUNDS[k][0]} {b}" for k, b in bounds.items())


def check_settings(settings: Any, file: str) -> dict[str, Any]:
    """``settings`` (a parsed site.yml) checked against :class:`SiteSettings`.

    Returns the same keys, in the file's order, with numbers normalised (an integer where a
    number is expected becomes a float). Defaults are not filled in: :func:`lookup` gives them.

    Raises
    ------
    ConfigError
        Naming the file and every unknown key (with the closest known key), wrong type,
        value out of bounds and missing required key.
    """
    if not isinstance(settings, dict):
        raise ConfigError(f"{file}: must be a mapping of keys to values, not {settings!r}")
    errors: list[str] = []
    checked = _check_section(settings, SiteSettings, "", errors, file)
    if errors:
        raise ConfigError("\n".join(errors))
    return checked


def _schema_node(dotted: str) -> tuple[Any, Any]:
    """(type hint, default) of a dotted key; KeyError naming the closest key when unknown."""
    cls: Any = SiteSettings
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            raise KeyError(f"'{dotted}': '{'.'.join(parts[:depth])}' has no sub-keys")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            close = difflib.get_close_matches(dotted, all_keys(), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise KeyError(f"'{dotted}' is not a site.yml key{hint}")
        spec = fields[part]
        hint_type = _hints(cls)[part]
        if depth == len(parts) - 1:
            return hint_type, _default(spec)
        cls = hint_type
    raise KeyError(dotted)  # pragma: no cover - the loop always returns


def _default(spec: dataclasses.Field) -> Any:
    if spec.default_factory is not dataclasses.MISSING:
        value = spec.default_factory()
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return None if spec.default is dataclasses.MISSING else spec.default


def lookup(settings: dict[str, Any], dotted: str) -> Any:
    """Value of a dotted key (``"efa.flags.min_gap"``) in checked settings, else its default.

    Raises
    ------
    KeyError
        When the key is not in the schema (a misspelt key in code fails loudly).
    """
    _, default = _schema_node(dotted)
    node: Any = settings
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def default(dotted: str) -> Any:
    """The schema's default of a dotted key: what the package's functions default to as well.

    Examples
    --------
    >>> default("eri.ratio_cutoff")
    1.0
    """
    return lookup({}, dotted)


def all_keys(cls: type = SiteSettings, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, sections included, in schema order."""
    keys = []
    for spec in dataclasses.fields(cls):
        path = f"{prefix}{spec.name}"
        keys.append(path)
        hint = _hints(cls)[spec.name]
        if dataclasses.is_dataclass(hint) and spec.default_factory is not dataclasses.MISSING:
            keys.extend(all_keys(hint, path + "."))
    return keys


def _format_default(spec: dataclasses.Field) -> str:
    if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
        return "required"
    value = _default(spec)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return '`""`' if value == "" else f"`{value}`"


def key_table(cls: type = SiteSettings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, help) of every key that holds a value, in schema order.

    Keys inside list items (``synthesis.findings``) are listed as ``synthesis.findings[].claim_en``.
    """
    rows = []
    for spec in dataclasses.fields(cls):
        path = f"{prefix}{spec.name}"
        hint = _hints(cls)[spec.name]
        if dataclasses.is_dataclass(hint) and spec.default_factory is not dataclasses.MISSING:
            rows.extend(key_table(hint, path + "."))
            continue
        rows.append((path, _describe(hint), _format_default(spec), spec.metadata["help"]))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is list and dataclasses.is_dataclass(args[0]):
            rows.extend(key_table(args[0], path + "[]."))
        elif origin in (Union, types.UnionType):
            for nested in (a for a in args if dataclasses.is_dataclass(a)):
                rows.extend(key_table(nested, path + "."))
    return rows


def key_table_markdown() -> str:
    """The README's table of site.yml keys (``python -m policestress.settings`` prints it)."""
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{k}` | {t} | {d} | {h} |" for k, t, d, h in key_table()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(key_table_markdown())
