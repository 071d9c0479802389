"""Site configuration and codebook: everything that differs between survey sites.

A site is a folder ``config/sites/<site>/`` holding

``site.yml``
    the raw file, which codebook files make up the instrument, grouping variables, ERI
    version, exclusion and missing-data rules, seed, output language (every key typed,
    defaulted and explained in :mod:`policestress.settings`; the README's "site.yml keys"
    lists them);
``codebook/*.csv``
    one file per instrument, one row per column of the survey export (see
    :data:`CODEBOOK_COLUMNS`);
``constructs.csv``
    labels of constructs and domains and how constructs group into domains;
``population_model.yml``
    only for simulated sites: the model the simulator draws from.

Examples
--------
>>> site = load_site("y-subbureau-sim")
>>> site.simulated
True
>>> site.codebook.items("stress_sources").shape[0] > 40
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from policestress.paths import SitePaths
from policestress.settings import ConfigError, check_settings, lookup

# Columns of a codebook file. `type` is one of ITEM_TYPES.
CODEBOOK_COLUMNS = [
    "item_id",  # short id used in every processed file and table (e.g. OCC_WL1, ERI7)
    "instrument",  # stress_sources / eri / outcome / relief / demographics / metadata
    "construct",  # e.g. workload, effort, reward, overcommitment, perceived_stress
    "subscale",  # ERI reward subscale (esteem / promotion / job_security), else empty
    "domain",  # second-order grouping of constructs (occupational, ..., eri, outcome)
    "type",  # see ITEM_TYPES
    "min",  # smallest valid code
    "max",  # largest valid code
    "reverse",  # 1 when reverse-keyed (recoded as min + max - x before scoring)
    "header",  # column header in the survey export (Chinese headers allowed)
    "label_zh",
    "label_en",
    "values_zh",  # value labels "1=男;2=女" (categorical items and response scales)
    "values_en",
]
# Optional codebook columns and the value an absent column stands for.
OPTIONAL_CODEBOOK_COLUMNS = {
    "missing": "",  # per-item codes read as missing, "-99;99;不适用" (besides site.yml missing_values)
    "bins": "",  # numeric items: cut points "30;40;50" of the bands used as a grouping variable
}
ITEM_TYPES = {
    "likert",  # scored item of a scale
    "categorical",  # demographic / grouping variable, integer codes with value labels
    "numeric",  # a number such as age, years of service or hours (range min-max, optional bins)
    "attention",  # instructed-response item; the expected answer is in site.yml
    "id",  # respondent id
    "meta",  # export metadata (submission time, duration, source, ...)
}
# Types whose answers are codes within min-max (and so need both).
CODED_TYPES = ("likert", "categorical", "attention")
# site.yml ``id: generate``: the chain numbers the rows in file order under this column name.
GENERATED_ID = "respondent_id"
# Suffix of the grouping column made from a numeric item's bins (``age`` -> ``age_band``).
BAND_SUFFIX = "_band"


__all__ = ["CODEBOOK_COLUMNS", "ITEM_TYPES", "Codebook", "ConfigError", "SiteConfig", "load_site"]


def _parse_value_labels(text: Any) -> dict[int, str]:
    if not isinstance(text, str) or not text.strip():
        return {}
    labels = {}
    for part in text.split(";"):
        code, _, label = part.partition("=")
        labels[int(code.strip())] = label.strip()
    return labels


def split_codes(text: Any) -> list[str]:
    """A semicolon-separated codebook cell as its trimmed parts ("" -> []).

    Examples
    --------
    >>> split_codes("-99; 99;不适用")
    ['-99', '99', '不适用']
    """
    if not isinstance(text, str) or not text.strip():
        return []
    return [part.strip() for part in text.split(";") if part.strip()]


def band_labels(cuts: list[float], language: str = "en") -> dict[int, str]:
    """Labels of the bands that cut points make: code 1 below the first cut, then upwards.

    A band includes its lower cut and excludes its upper one, so ``[30, 40]`` gives
    "< 30", "30 to < 40" and ">= 40".

    Examples
    --------
    >>> band_labels([30, 40])
    {1: '< 30', 2: '30 to < 40', 3: '>= 40'}
    >>> band_labels([30], "zh")
    {1: '<30', 2: '≥30'}
    """
    text = [f"{c:g}" for c in cuts]
    if language == "zh":
        inner = [f"{a}至<{b}" for a, b in zip(text, text[1:], strict=False)]
        labels = [f"<{text[0]}", *inner, f"≥{text[-1]}"]
    else:
        inner = [f"{a} to < {b}" for a, b in zip(text, text[1:], strict=False)]
        labels = [f"< {text[0]}", *inner, f">= {text[-1]}"]
    return dict(enumerate(labels, start=1))


@dataclass
class Codebook:
    """All codebook rows of a site, with lookups used throughout the chain."""

    table: pd.DataFrame
    constructs: pd.DataFrame
    # Lookups built once: the report alone asks for a few hundred labels.
    _lookups: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _lookup(self, key, build):
        if key not in self._lookups:
            self._lookups[key] = build()
        return self._lookups[key]

    def items(
        self, instrument: str | None = None, types: tuple[str, ...] = ("likert",)
    ) -> pd.DataFrame:
        """Codebook rows of the given instrument (all instruments when None) and item types."""
        rows = self.table[self.table["type"].isin(types)]
        if instrument is not None:
            rows = rows[rows["instrument"] == instrument]
        return rows

    def item_ids(self, instrument: str | None = None, construct: str | None = None) -> list[str]:
        rows = self.items(instrument)
        if construct is not None:
            rows = rows[rows["construct"] == construct]
        return rows["item_id"].tolist()

    def scales(self, instrument: str) -> dict[str, list[str]]:
        """Construct -> its item ids, in codebook order."""
        rows = self.items(instrument)
        return {c: g["item_id"].tolist() for c, g in rows.groupby("construct", sort=False)}

    def domains(self, instrument: str) -> dict[str, list[str]]:
        """Domain -> its constructs, in codebook order."""
        rows = self.items(instrument).drop_duplicates("construct")
        return {d: g["construct"].tolist() for d, g in rows.groupby("domain", sort=False)}

    def has_instrument(self, instrument: str) -> bool:
        return bool((self.table["instrument"] == instrument).any())

    def outcome_score(self) -> str | None:
        """The outcome score column: ``score_<construct>`` of the first construct of the
        ``outcome`` instrument, None when the codebook has none (the one rule behind the
        defaults of ``eri.stress_outcome`` and ``synthesis.outcome``)."""
        if not self.has_instrument("outcome"):
            return None
        return f"score_{next(iter(self.scales('outcome')))}"

    def label(self, name: str, language: str = "en") -> str:
        """Label of an item, construct or domain in ``language`` ('zh' or 'en'); name if none."""
        band = self.bands().get(name)
        if band is not None:
            name = band[0]  # a band column is labelled as its numeric item
        value = self._lookup(("labels", language), lambda: self._labels(f"label_{language}")).get(
            name
        )
        return value if isinstance(value, str) else name

    def _labels(self, column: str) -> dict[str, object]:
        """Name -> label in ``column``: an item's row first, else the construct's or domain's
        (the first row of each name)."""
        labels: dict[str, object] = {}
        for name, value in zip(self.constructs["name"], self.constructs[column], strict=True):
            labels.setdefault(name, value)
        items: dict[str, object] = {}
        for name, value in zip(self.table["item_id"], self.table[column], strict=True):
            items.setdefault(name, value)
        return {**labels, **items}

    def value_labels(self, item_id: str, language: str = "en") -> dict[int, str]:
        """Code -> label of a categorical item, a response scale, or a numeric item's bands."""
        band = self.bands().get(item_id)
        if band is not None:
            item, cuts = band
            declared = _parse_value_labels(self.row(item)[f"values_{language}"])
            return declared or band_labels(cuts, language)
        row = self.table.loc[self.table["item_id"] == item_id]
        if row.empty:
            raise KeyError(item_id)
        return _parse_value_labels(row.iloc[0][f"values_{language}"])

    def row(self, item_id: str) -> pd.Series:
        """The codebook row of an item."""
        rows = self.table.loc[self.table["item_id"] == item_id]
        if rows.empty:
            raise KeyError(item_id)
        return rows.iloc[0]

    def id_item(self) -> str:
        """Item id of the respondent-id column (the codebook row of type ``id``)."""
        ids = self.items(types=("id",))["item_id"]
        if len(ids) != 1:
            raise ConfigError(
                f"the codebook needs exactly one row of type 'id', found {len(ids)}"
                + (
                    "; an export without respondent numbers: set `id: generate` in site.yml"
                    if len(ids) == 0
                    else ""
                )
            )
        return str(ids.iloc[0])

    def categorical(self) -> list[str]:
        return self.items(types=("categorical",))["item_id"].tolist()

    def numeric(self) -> list[str]:
        """Item ids of the numeric variables (age, years of service, hours, ...)."""
        return self.items(types=("numeric",))["item_id"].tolist()

    def bands(self) -> dict[str, tuple[str, list[float]]]:
        """Band column (``<item>_band``) -> (numeric item, cut points), for items with ``bins``."""

        def build():
            rows = self.items(types=("numeric",))
            return {
                f"{r.item_id}{BAND_SUFFIX}": (r.item_id, [float(c) for c in split_codes(r.bins)])
                for r in rows.itertuples()
                if split_codes(r.bins)
            }

        return dict(self._lookup("bands", build))

    def grouping_column(self, name: str) -> str:
        """The analysis column a grouping variable of site.yml names.

        A categorical item is its own column; a numeric item with ``bins`` is grouped by its
        band column ``<item>_band``; a numeric item without bins cannot group respondents.
        """
        if name in self.numeric():
            band = f"{name}{BAND_SUFFIX}"
            if band not in self.bands():
                raise ConfigError(
                    f"grouping variable {name!r} is numeric ({self.row(name)['source_file']}): "
                    "give it cut points in the codebook's `bins` column (e.g. 30;40;50) to group by bands"
                )
            return band
        return name

    def missing_codes(self, item_id: str) -> list[str]:
        """The item's own codes read as missing (codebook column ``missing``)."""
        return split_codes(self.row(item_id)["missing"])

    # ------------------------------------------------------------- factor-model structure

    def factor_scales(self, instrument: str) -> dict[str, list[str]]:
        """Construct -> item ids, for the constructs a factor model can measure (>= 2 items).

        A construct of one item is kept for descriptives and scores but left out of factor
        models (a factor with one indicator is not identified); :meth:`structure_notes` says so.
        """
        return {c: items for c, items in self.scales(instrument).items() if len(items) >= 2}

    def factor_domains(self, instrument: str) -> dict[str, list[str]]:
        """Domain -> its constructs of :meth:`factor_scales`, for domains with >= 2 of them.

        Only these domains get a second-order factor; a domain of one construct has none (the
        construct's factor stands for it), as :meth:`structure_notes` states.
        """
        measured = self.factor_scales(instrument)
        domains = {
            d: [c for c in constructs if c in measured]
            for d, constructs in self.domains(instrument).items()
        }
        return {d: constructs for d, constructs in domains.items() if len(constructs) >= 2}

    def structure_notes(self, instrument: str, second_order: bool = True) -> list[str]:
        """Plain statements of what factor models leave out of ``instrument``, and why.

        ``second_order``: whether the instrument's domains get second-order factors (the
        stress-source instrument); only then a domain of one construct is worth a note.

        Examples
        --------
        >>> load_site("y-subbureau-sim").codebook.structure_notes("stress_sources")
        []
        """
        notes = []
        for construct, items in self.scales(instrument).items():
            if len(items) == 1:
                notes.append(
                    f"construct {construct!r} has one item ({items[0]}): kept for descriptives "
                    "and scores, left out of factor models (one indicator identifies no factor)"
                )
        for domain, constructs in self.domains(instrument).items():
            if second_order and len(constructs) == 1:
                notes.append(
                    f"domain {domain!r} has one construct ({constructs[0]}): no second-order "
                    "factor over it"
                )
        return notes


@dataclass
class SiteConfig:
    """A site's configuration (``site.yml``) with its codebook loaded."""

    name: str
    settings: dict[str, Any]
    codebook: Codebook
    paths: SitePaths = field(repr=False)

    @property
    def simulated(self) -> bool:
        return bool(self.settings.get("simulated", False))

    @property
    def language(self) -> str:
        return self.settings.get("language", "en")

    @property
    def raw_file(self) -> Path:
        return self.paths.base / self.settings["raw_file"]

    @property
    def seed(self) -> int:
        return int(self.settings.get("seed", 0))

    @property
    def grouping(self) -> list[str]:
        """Analysis columns of the grouping variables (a numeric item by its bands)."""
        return [self.codebook.grouping_column(g) for g in self.settings.get("grouping", [])]

    def get(self, dotted: str, default: Any = None) -> Any:
        """A setting by its dotted key, e.g. ``site.get("efa.rotation")``.

        The value in site.yml, else the default of :mod:`policestress.settings` (the one
        place defaults live); ``default`` applies only to keys whose schema default is
        empty (null). A key the schema does not know is a KeyError, so a misspelt key in
        code fails instead of silently giving a default.
        """
        value = lookup(self.settings, dotted)
        return default if value is None else value


def _read_codebook_file(path: Path) -> pd.DataFrame:
    """One codebook file, checked row by row; every error names the file, row, item and rule."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in CODEBOOK_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: codebook lacks columns {missing}")
    for column, absent in OPTIONAL_CODEBOOK_COLUMNS.items():
        if column not in table.columns:
            table[column] = absent
    bad_types = sorted(set(table["type"]) - ITEM_TYPES)
    if bad_types:
        rows = table.index[table["type"].isin(bad_types)].tolist()
        raise ConfigError(
            f"{path}: column 'type' has unknown values {bad_types} (rows {[r + 2 for r in rows[:5]]}); "
            f"allowed: {sorted(ITEM_TYPES)}"
        )

    def where(index: int) -> str:  # the file row as a spreadsheet shows it (header = row 1)
        return f"{path}, row {index + 2} (item {table.at[index, 'item_id']!r})"

    for column in ("min", "max", "reverse"):
        values = pd.to_numeric(table[column].where(table[column] != ""), errors="coerce")
        bad = table.index[values.isna() & (table[column] != "")]
        if len(bad):
            raise ConfigError(
                f"{where(bad[0])}: column {column!r} must be a number, found {table.at[bad[0], column]!r}"
            )
        table[column] = values
    for index, row in table.iterrows():
        if row["type"] in CODED_TYPES and (pd.isna(row["min"]) or pd.isna(row["max"])):
            raise ConfigError(f"{where(index)}: a {row['type']} item needs both min and max")
        if row["type"] in CODED_TYPES and (row["min"] % 1 or row["max"] % 1):
            raise ConfigError(
                f"{where(index)}: the codes min and max of a {row['type']} item are integers"
            )
        if pd.notna(row["min"]) and pd.notna(row["max"]) and row["min"] > row["max"]:
            raise ConfigError(
                f"{where(index)}: min ({row['min']:g}) > max ({row['max']:g}); rule: min <= max"
            )
        for code in split_codes(row["missing"]):
            number = pd.to_numeric(code, errors="coerce")
            if pd.notna(number) and pd.notna(row["min"]) and row["min"] <= number <= row["max"]:
                raise ConfigError(
                    f"{where(index)}: missing code {code} lies within the valid range "
                    f"{row['min']:g}-{row['max']:g}; rule: a missing code is no valid answer"
                )
        if row["bins"] and row["type"] != "numeric":
            raise ConfigError(
                f"{where(index)}: only numeric items take bins (type {row['type']!r})"
            )
        if row["bins"]:
            cuts = pd.to_numeric(pd.Series(split_codes(row["bins"])), errors="coerce")
            if cuts.isna().any() or not cuts.is_monotonic_increasing or cuts.duplicated().any():
                raise ConfigError(
                    f"{where(index)}: bins {row['bins']!r} must be increasing numbers separated by ';'"
                )
            inside = pd.Series(True, index=cuts.index)
            if pd.notna(row["min"]):
                inside &= cuts > row["min"]
            if pd.notna(row["max"]):
                inside &= cuts <= row["max"]
            if not inside.all():
                raise ConfigError(
                    f"{where(index)}: bins {row['bins']!r} must lie within min-max "
                    f"({row['min']:g}-{row['max']:g}) so that every band can hold answers"
                )
            declared = {lang: _parse_value_labels(row[f"values_{lang}"]) for lang in ("zh", "en")}
            for lang, labels in declared.items():
                if labels and sorted(labels) != list(range(1, len(cuts) + 2)):
                    raise ConfigError(
                        f"{where(index)}: values_{lang} of a binned item labels the bands "
                        f"1-{len(cuts) + 1} ({len(cuts)} cut points), found codes {sorted(labels)}"
                    )
    for column in ("min", "max"):
        table[column] = table[column].astype(
            "Float64" if (table[column] % 1).fillna(0).any() else "Int64"
        )
    table["reverse"] = table["reverse"].fillna(0).astype(bool)
    table["source_file"] = path.name
    table["source_row"] = table.index + 2
    return table


def _check_codebook(table: pd.DataFrame, settings: dict[str, Any], site_file: Path) -> None:
    """Rules that span the codebook files: unique item ids and headers, the id row, bands."""
    for column, what in (("item_id", "item id"), ("header", "header")):
        keys = table[column] if column == "item_id" else table[column].map(_normal_header)
        twice = table[keys.duplicated(keep=False) & (keys != "")]
        if len(twice):
            places = "; ".join(
                f"{r.source_file} row {r.source_row} (item {r.item_id!r})"
                for r in twice.itertuples()
            )
            raise ConfigError(
                f"{site_file}: {what} {twice[column].iloc[0]!r} is defined more than once in the "
                f"codebook ({places}); rule: every {what} once"
            )
    ids = table[table["type"] == "id"]
    if settings.get("id") == "generate":
        if len(ids):
            r = ids.iloc[0]
            raise ConfigError(
                f"{site_file}: `id: generate` numbers the rows, but {r['source_file']} row "
                f"{r['source_row']} declares an id column ({r['item_id']!r}): keep one of the two"
            )
        if (table["item_id"] == GENERATED_ID).any():
            raise ConfigError(
                f"{site_file}: `id: generate` writes the column {GENERATED_ID!r}, which a codebook "
                "item already uses: rename that item"
            )
    elif settings.get("id") not in (None, "column"):
        raise ConfigError(
            f"{site_file}: id: {settings['id']!r} is not understood; use `generate` (number the "
            "rows in file order) or leave it out (the codebook's row of type 'id')"
        )
    numeric = table[table["type"] == "numeric"]
    for r in numeric.itertuples():
        band = f"{r.item_id}{BAND_SUFFIX}"
        if split_codes(r.bins) and (table["item_id"] == band).any():
            raise ConfigError(
                f"{site_file}: the bands of numeric item {r.item_id!r} ({r.source_file} row "
                f"{r.source_row}) go to column {band!r}, which is also an item id: rename one"
            )


def _normal_header(text: str) -> str:
    # the same comparison as survey_io.normalize_header (imported there from here would cycle)
    import re
    import unicodedata

    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text))).strip()


def load_site(site: str, root: Path | None = None) -> SiteConfig:
    """Read ``config/sites/<site>/site.yml`` and its codebook files.

    Raises
    ------
    ConfigError
        When the configuration or a codebook file is malformed; the message names the file.
    """
    paths = SitePaths(site, root)
    site_file = paths.config_dir / "site.yml"
    if not site_file.exists():
        available = sorted(p.name for p in (paths.base / "config" / "sites").iterdir())
        raise ConfigError(f"no site configuration {site_file}; sites: {available}")
    try:
        parsed = yaml.safe_load(site_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{site_file}: not valid YAML: {error}") from None
    settings = check_settings(parsed, str(site_file))
    # A `make new-site` scaffold marks what only the analyst knows TODO: none may be left.
    from policestress.scaffold import find_todos  # scaffold imports this module

    todos = find_todos(paths.config_dir)
    if todos:
        raise ConfigError(
            f"{len(todos)} TODOs of the scaffold are left; fill them in:\n" + "\n".join(todos)
        )
    files = {"codebook": settings["codebook"], "constructs": [lookup(settings, "constructs")]}
    if settings.get("simulated", False):
        files["population_model"] = [lookup(settings, "population_model")]
    for setting, names in files.items():
        for name in names:
            if not (paths.config_dir / name).is_file():
                raise ConfigError(
                    f"{site_file}: {setting} names {name!r}, which is not a file in "
                    f"{paths.config_dir}"
                    + (
                        "; a simulated site needs its population model"
                        if setting == "population_model"
                        else ""
                    )
                )
    frames = [_read_codebook_file(paths.config_dir / name) for name in settings["codebook"]]
    table = pd.concat(frames, ignore_index=True)
    _check_codebook(table, settings, site_file)
    constructs_file = paths.config_dir / lookup(settings, "constructs")
    constructs = pd.read_csv(constructs_file, dtype=str, keep_default_na=False, encoding="utf-8")
    return SiteConfig(
        name=site, settings=settings, codebook=Codebook(table, constructs), paths=paths
    )
