"""``make new-site NAME=... EXPORT=...``: a site configuration and codebook template from an export.

Reads the export's headers and answers and writes ``config/sites/<name>/`` with

* ``site.yml``: the default site's settings, pointed at the export, marked not simulated;
* ``codebook/survey.csv``: one row per export column, the header copied verbatim, a
  proposed item id and type (respondent id, metadata, categorical or Likert, from the
  header and the answers), the observed code range; construct, domain, reverse and
  labels left for the analyst to fill in;
* ``constructs.csv``: the header row, to be filled with the constructs and domains used.

It never overwrites an existing site.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

from policestress.config import CODEBOOK_COLUMNS
from policestress.paths import project_root
from policestress.survey_io import read_export

ID_HEADER = re.compile(r"^(序号|编号|答卷编号|id|respondent|resp_?no)", re.IGNORECASE)
META_HEADER = re.compile(r"时间|时长|来源|渠道|ip|time|duration|source|date", re.IGNORECASE)
DURATION_HEADER = re.compile(r"所用时间|时长|duration", re.IGNORECASE)
LIKERT_CODES = {5, 7, 4}  # response scales recognised from the observed range


def propose_codebook(export: pd.DataFrame) -> pd.DataFrame:
    """One proposed codebook row per export column (types guessed, ranges observed)."""
    rows = []
    for position, header in enumerate(export.columns, start=1):
        values = pd.to_numeric(export[header].replace("", None), errors="coerce")
        numeric_share = values.notna().mean()
        row = dict.fromkeys(CODEBOOK_COLUMNS, "")
        row.update({"header": header, "label_zh": header, "label_en": "", "reverse": "0"})
        if ID_HEADER.search(header) and position <= 3:
            row.update(item_id="respondent_id", instrument="metadata", type="id")
        elif DURATION_HEADER.search(header):
            row.update(item_id="duration", instrument="metadata", type="meta")
        elif META_HEADER.search(header) and numeric_share < 0.5:
            row.update(item_id=f"meta{position}", instrument="metadata", type="meta")
        elif numeric_share > 0.9 and (values.dropna() % 1 == 0).all():
            low, high = int(values.min()), int(values.max())
            likert = low == 1 and high in LIKERT_CODES and values.nunique() >= 3
            row.update(
                item_id=f"Q{position}",
                instrument="TODO" if likert else "demographics",
                type="likert" if likert else "categorical",
                min=str(low),
                max=str(high),
            )
        else:
            row.update(item_id=f"meta{position}", instrument="metadata", type="meta")
        rows.append(row)
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)


def scaffold_site(name: str, export_path: Path, root: Path | None = None) -> Path:
    root = root or project_root()
    site_dir = root / "config" / "sites" / name
    if site_dir.exists():
        raise FileExistsError(f"{site_dir} exists already; choose another NAME")
    export_path = Path(export_path).resolve()
    export = read_export(export_path)
    raw_dir = root / "data" / "raw" / name
    raw_dir.mkdir(parents=True, exist_ok=True)
    raw_file = raw_dir / export_path.name
    if export_path != raw_file:
        shutil.copy2(export_path, raw_file)

    template = yaml.safe_load(
        (root / "config" / "sites" / "y-subbureau-sim" / "site.yml").read_text(encoding="utf-8")
    )
    settings = {
        **template,
        "site": name,
        "title_en": name,
        "title_zh": name,
        "simulated": False,
        "raw_file": str(raw_file.relative_to(root)),
        "codebook": ["codebook/survey.csv"],
        "grouping": [],
    }
    settings.pop("population_model", None)
    settings["exclusions"] = {
        k: v for k, v in template["exclusions"].items() if k != "attention_check"
    }
    (site_dir / "codebook").mkdir(parents=True)
    (site_dir / "site.yml").write_text(
        "# Scaffolded by `make new-site`: check every key (README: 'site.yml keys').\n"
        + yaml.safe_dump(settings, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    propose_codebook(export).to_csv(
        site_dir / "codebook" / "survey.csv", index=False, lineterminator="\n"
    )
    (site_dir / "constructs.csv").write_text(
        "name,level,domain,label_zh,label_en\n", encoding="utf-8"
    )
    return site_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.scaffold", description=__doc__)
    parser.add_argument("--name", required=True, help="new site name, e.g. x-county")
    parser.add_argument(
        "--export", required=True, type=Path, help="the survey export (csv, xlsx, sav)"
    )
    args = parser.parse_args(argv)
    site_dir = scaffold_site(args.name, args.export)
    print(
        f"wrote {site_dir}/site.yml and codebook/survey.csv.\n"
        "Next: fill in instrument, construct, domain, reverse and labels in the codebook "
        "(rows marked TODO are Likert items), list constructs and domains in constructs.csv, "
        f"set grouping in site.yml, then run `make validate SITE={args.name}` until it is clean."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
