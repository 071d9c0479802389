"""Site configuration and codebook: everything that differs between survey sites.

A site is a folder ``config/sites/<site>/`` holding

``site.yml``
    the raw file, which codebook files make up the instrument, grouping variables, ERI
    version, exclusion and missing-data rules, seed, output language (see the README's
    "Adapting to another sub-bureau" for every key);
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

import os
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
ITEM_TYPES = {
    "likert",  # scored item of a scale
    "categorical",  # demographic / grouping variable, integer codes with value labels
    "attention",  # instructed-response item; the expected answer is in site.yml
    "id",  # respondent id
    "meta",  # export metadata (submission time, duration, source, ...)
}


__all__ = ["CODEBOOK_COLUMNS", "ITEM_TYPES", "Codebook", "ConfigError", "SiteConfig", "load_site"]


def _parse_value_labels(text: Any) -> dict[int, str]:
    if not isinstance(text, str) or not text.strip():
        return {}
    labels = {}
    for part in text.split(";"):
        code, _, label = part.partition("=")
        labels[int(code.strip())] = label.strip()
    return labels


@dataclass
class Codebook:
    """All codebook rows of a site, with lookups used throughout the chain."""

    table: pd.DataFrame
    constructs: pd.DataFrame

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

    def label(self, name: str, language: str = "en") -> str:
        """Label of an item, construct or domain in ``language`` ('zh' or 'en'); name if none."""
        column = f"label_{language}"
        hit = self.table.loc[self.table["item_id"] == name, column]
        if hit.empty:
            hit = self.constructs.loc[self.constructs["name"] == name, column]
        return str(hit.iloc[0]) if not hit.empty and isinstance(hit.iloc[0], str) else name

    def value_labels(self, item_id: str, language: str = "en") -> dict[int, str]:
        row = self.table.loc[self.table["item_id"] == item_id]
        if row.empty:
            raise KeyError(item_id)
        return _parse_value_labels(row.iloc[0][f"values_{language}"])

    def id_item(self) -> str:
        """Item id of the respondent-id column (the codebook row of type ``id``)."""
        ids = self.items(types=("id",))["item_id"]
        if len(ids) != 1:
            raise ConfigError(f"the codebook needs exactly one row of type 'id', found {len(ids)}")
        return str(ids.iloc[0])

    def categorical(self) -> list[str]:
        return self.items(types=("categorical",))["item_id"].tolist()


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
        return list(self.settings.get("grouping", []))

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
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in CODEBOOK_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: codebook lacks columns {missing}")
    bad_types = sorted(set(table["type"]) - ITEM_TYPES)
    if bad_types:
        rows = table.index[table["type"].isin(bad_types)].tolist()
        raise ConfigError(
            f"{path}: column 'type' has unknown values {bad_types} (rows {[r + 2 for r in rows[:5]]}); "
            f"allowed: {sorted(ITEM_TYPES)}"
        )
    for column in ("min", "max", "reverse"):
        table[column] = pd.to_numeric(table[column].replace("", None), errors="raise").astype(
            "Int64"
        )
    table["reverse"] = table["reverse"].fillna(0).astype(bool)
    table["source_file"] = path.name
    return table


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
    frames = [_read_codebook_file(paths.config_dir / name) for name in settings["codebook"]]
    table = pd.concat(frames, ignore_index=True)
    duplicated = table["item_id"][table["item_id"].duplicated()].tolist()
    if duplicated:
        raise ConfigError(f"{site_file}: item ids defined twice in the codebook: {duplicated}")
    constructs_file = paths.config_dir / lookup(settings, "constructs")
    constructs = pd.read_csv(constructs_file, dtype=str, keep_default_na=False, encoding="utf-8")
    # Read by policestress.plots.save_figure: figures of a simulated site say so.
    os.environ["POLICESTRESS_SIMULATED"] = "1" if settings.get("simulated", False) else "0"
    return SiteConfig(
        name=site, settings=settings, codebook=Codebook(table, constructs), paths=paths
    )
