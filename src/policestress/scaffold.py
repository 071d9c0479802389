"""``make new-site NAME=... EXPORT=...``: a site configuration and codebook a student only checks.

Reads the export (and, for an SPSS ``.sav``, its dictionary: variable names, variable labels
and value labels) and writes ``config/sites/<name>/`` with

* ``codebook/survey.csv``: one row per export column. Item ids are the SPSS variable names
  (else a code leading the header, such as ``S_JD1`` in "S_JD1 需要...", else ``Q<position>``);
  the header is the variable label as the chain reads it, the label the header without its
  leading code; value labels are copied. Types: the respondent id (an id-like header or a
  column numbering the rows), export metadata (times, durations, sources), rating scales of
  2 to 11 points (recognised from scale words in the value labels such as 同意 / never, or,
  without labels, from integer answers on a short range), categorical demographics (their
  headers, or labels that are not scale words), numbers such as age (many distinct values);
  ranges from the value labels, else from the answers. What only the student knows
  (instrument, construct, domain, reverse keying) is ``TODO``.
* ``site.yml``: every key a new site sets, with a comment saying what it does; identifier
  columns (names, phone and ID-card numbers, IP addresses) listed under ``ignore_columns``,
  so they are dropped before any check; thresholds scaled to the survey:
  ``validation.min_respondents`` = 5 respondents per rating item (at least 100) and
  ``exclusions.min_duration_seconds`` = 2 seconds per question (the default site's 180 s for
  90 questions).
* ``constructs.csv``: a ``TODO`` row to replace with the constructs and domains used.

Every ``TODO`` left in these files makes :func:`policestress.config.load_site` (and so
``make validate``) fail, naming each one (:func:`find_todos`). It never overwrites a site.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from policestress.config import CODEBOOK_COLUMNS, ITEM_TYPES
from policestress.paths import project_root
from policestress.survey_io import normalize_header, read_export
from policestress.validate import IDENTIFIER_HEADER, IDENTIFIER_VALUE

TODO = "TODO"
ID_HEADER = re.compile(
    r"^(序号|编号|答卷编号|答卷序号|id\b|respondent|resp_?no|response ?id)", re.I
)
DURATION_HEADER = re.compile(r"所用时间|答题时长|时长|duration", re.I)
META_HEADER = re.compile(r"时间|日期|来源|渠道|time|date|source|channel", re.I)
DEMOGRAPHIC_HEADER = re.compile(
    r"性别|年龄|学历|文化程度|婚|子女|职务|职级|警种|岗位|单位|部门|年限|工龄|警龄|收入|民族|"
    r"政治面貌|户籍|编制|轮班|倒班|gender|\bsex\b|\bage\b|education|marital|children|rank|"
    r"\bunit\b|tenure|\bpost\b|position|income|shift",
    re.I,
)
# Words of response scales (agreement, frequency, satisfaction, intensity), Chinese and English.
SCALE_WORDS = re.compile(
    r"同意|从不|从未|很少|偶尔|有时|经常|总是|非常|比较|一般|满意|符合|不确定|完全|有点|极其|"
    r"agree|never|rarely|seldom|sometimes|often|always|very|satisf|neutral|not at all|"
    r"extremely|somewhat|moderately|slightly|true",
    re.I,
)
# A code leading a header: "S_JD1 需要..." -> S_JD1, "Q12. ..." -> Q12, "Q1_性别" -> Q1.
LEADING_CODE = re.compile(
    r"^([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*)(?:[\s.:：、]+|_(?=[^\x00-\x7f]))(?=\S)"
)
NUMBER_PREFIX = re.compile(r"^\d+[.、)）:：]\s*")  # "79.总体而言" -> "总体而言"
CJK = re.compile(r"[\u4e00-\u9fff]")
SCALE_POINTS = range(2, 12)  # rating scales of 2 to 11 points
RESPONDENTS_PER_ITEM = 5  # a common minimum for factor analysis (e.g. Hair et al.)
MIN_RESPONDENTS_FLOOR = 100
SECONDS_PER_QUESTION = 2  # the default site: 180 s for 90 questions


@dataclass
class Variable:
    """One export column as the scaffold sees it."""

    header: str  # as the chain reads it (survey_io.read_export)
    values: pd.Series  # the answers as text
    name: str = ""  # SPSS variable name
    value_labels: dict[int, str] = field(default_factory=dict)


def _variables(export_path: Path) -> list[Variable]:
    export = read_export(export_path)
    variables = [Variable(h, export[h]) for h in export.columns]
    if export_path.suffix.lower() == ".sav":
        import pyreadstat

        _, meta = pyreadstat.read_sav(str(export_path), metadataonly=True)
        for variable, name, label in zip(
            variables, meta.column_names, meta.column_labels, strict=True
        ):
            assert variable.header == normalize_header(label or name)
            variable.name = name
            variable.value_labels = {
                int(code): str(text)
                for code, text in meta.variable_value_labels.get(name, {}).items()
                if float(code).is_integer()
            }
    return variables


def _label_text(labels: dict[int, str]) -> str:
    return ";".join(f"{code}={text}" for code, text in sorted(labels.items()))


def _identifier(variable: Variable) -> bool:
    if IDENTIFIER_HEADER.search(variable.header):
        return True
    texts = variable.values[variable.values.str.len() >= 6]
    return any(texts.str.match(p).any() for p in IDENTIFIER_VALUE.values())


def _is_row_number(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values.replace("", None), errors="coerce")
    return bool(numbers.notna().all() and numbers.is_unique and (numbers % 1 == 0).all())


def _propose(variable: Variable, position: int) -> dict[str, str]:
    """Item id, type, range and labels proposed for one export column."""
    header, labels = variable.header, variable.value_labels
    code = LEADING_CODE.match(header)
    label = NUMBER_PREFIX.sub("", header[code.end() :] if code else header)
    item_id = variable.name or (code.group(1) if code else f"Q{position}")
    row = dict.fromkeys(CODEBOOK_COLUMNS, "")
    row.update(item_id=item_id, header=header, reverse="0")
    row["label_zh" if CJK.search(label) else "label_en"] = label
    if labels:
        row["values_zh" if any(CJK.search(t) for t in labels.values()) else "values_en"] = (
            _label_text(labels)
        )
    numbers = pd.to_numeric(variable.values.replace("", None), errors="coerce")
    answered = variable.values != ""
    numeric = answered.any() and numbers[answered].notna().all()
    whole = numeric and bool((numbers.dropna() % 1 == 0).all())
    distinct = numbers.nunique()
    # A column numbering the rows near the start: unique whole numbers, more than a scale has.
    row_number = (
        position <= 3
        and whole
        and not labels
        and distinct > max(SCALE_POINTS)
        and _is_row_number(variable.values)
    )
    if ID_HEADER.search(header) or row_number:
        row.update(instrument="metadata", type="id")
    elif DURATION_HEADER.search(header) and not labels:
        row.update(item_id=variable.name or "duration", instrument="metadata", type="meta")
    elif not numeric or (META_HEADER.search(header) and not labels):
        row.update(instrument="metadata", type="meta")
    elif whole and (labels or distinct <= max(SCALE_POINTS)):
        codes = sorted(labels) if labels else sorted(int(v) for v in numbers.dropna().unique())
        low, high = min(codes), max(codes)
        points = high - low + 1
        scale_labels = labels and all(SCALE_WORDS.search(t) for t in labels.values())
        looks_like_scale = scale_labels if labels else not DEMOGRAPHIC_HEADER.search(header)
        if looks_like_scale and points in SCALE_POINTS and low in (0, 1) and distinct >= 2:
            row.update(instrument=TODO, construct=TODO, domain=TODO, type="likert")
        else:
            row.update(instrument="demographics", type="categorical")
        row.update(min=str(low), max=str(high))
    elif "numeric" in ITEM_TYPES:
        low, high = numbers.min(), numbers.max()
        row.update(instrument="demographics", type="numeric", min=f"{low:g}", max=f"{high:g}")
    else:
        row.update(instrument="metadata", type="meta")
    return row


def propose_codebook(export: pd.DataFrame | list[Variable]) -> pd.DataFrame:
    """One proposed codebook row per export column (see the module docstring).

    Examples
    --------
    >>> export = pd.DataFrame({"序号": ["1", "2", "3"], "Q2 工作压力大": ["1", "6", "3"],
    ...     "性别": ["1", "2", "1"]})
    >>> propose_codebook(export)[["item_id", "type", "min", "max"]].values.tolist()
    [['Q1', 'id', '', ''], ['Q2', 'likert', '1', '6'], ['Q3', 'categorical', '1', '2']]
    """
    variables = (
        [Variable(h, export[h]) for h in export.columns]
        if isinstance(export, pd.DataFrame)
        else export
    )
    rows = [_propose(v, position) for position, v in enumerate(variables, start=1)]
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)


SITE_TEMPLATE = """\
# Scaffolded by `make new-site` from {export}: check every value, replace every TODO
# (make validate names the ones left). Every key: README, "site.yml keys".
site: {name}
title_en: "TODO: the site's title in English"
title_zh: "TODO: 站点中文标题"
simulated: false                 # a real survey: no SIMULATED banner
language: {language}                     # labels in thesis tables and figures: zh or en
seed: 20240101                   # one seed for parallel analysis and bootstraps

raw_file: {raw_file}
raw_format: auto                 # auto (by extension) | csv | xlsx | sav
encoding: auto                   # CSV: auto tries UTF-8 then GBK

codebook:                        # one file per instrument, relative to this folder
  - codebook/survey.csv
constructs: constructs.csv
{id_line}{ignore}
validation:
  min_respondents: {min_respondents}           # fewer is an error: {respondents_per_item} per rating item ({n_items} items), at least {floor}

exclusions:                      # cleaning rules, applied in this order
  duplicates: true               # identical answers on every question: keep the first submission
  max_missing_fraction: 0.30     # more missing scored items than this: excluded
{straightlining}  min_duration_seconds: {min_duration}       # faster is implausible: {seconds} s per question ({n_questions} questions)

scoring:
  min_answered_fraction: 0.66    # a scale score needs at least this share of its items answered

grouping: [{grouping}]  # TODO: demographic variables for group comparisons (item ids)

privacy:
  min_cell: 5                    # cells with fewer respondents are suppressed in published tables

invariance:
  min_group_size: 100            # groups with fewer complete cases are left out (stated)
"""


def site_yaml(
    name: str, raw_file: str, codebook: pd.DataFrame, ignore: list[str], export: str
) -> str:
    """The scaffold's site.yml text, comments kept, thresholds scaled to the survey."""
    n_items = int((codebook["type"] == "likert").sum())
    n_questions = int(codebook["type"].isin(["likert", "categorical", "numeric"]).sum())
    ignore_block = ""
    if ignore:
        listed = "\n".join(
            f"  - {yaml.safe_dump(h, allow_unicode=True).splitlines()[0]}" for h in ignore
        )
        ignore_block = (
            "\n# Personal identifiers found in the export: dropped before every check, never\n"
            f"# analysed or published.\nignore_columns:\n{listed}\n"
        )
    categorical = codebook.loc[codebook["type"] == "categorical", "item_id"].tolist()
    has_id = bool((codebook["type"] == "id").any())
    chinese = codebook["header"].str.contains(CJK).mean() >= 0.5
    return SITE_TEMPLATE.format(
        language="zh" if chinese else "en",
        id_line=""
        if has_id
        else "id: generate                     # the export numbers no respondents: rows are "
        "numbered in file order\n",
        export=export,
        name=name,
        raw_file=raw_file,
        ignore=ignore_block,
        min_respondents=max(MIN_RESPONDENTS_FLOOR, RESPONDENTS_PER_ITEM * n_items),
        respondents_per_item=RESPONDENTS_PER_ITEM,
        n_items=n_items,
        floor=MIN_RESPONDENTS_FLOOR,
        straightlining=(
            "  straightlining: {instrument: TODO, max_same_answer_fraction: 0.95}  "
            "# TODO: the instrument whose rating items are checked\n"
            if n_items
            else ""
        ),
        min_duration=SECONDS_PER_QUESTION * n_questions,
        seconds=SECONDS_PER_QUESTION,
        n_questions=n_questions,
        grouping=", ".join(categorical),
    )


def scaffold_site(name: str, export_path: Path, root: Path | None = None) -> Path:
    """Write ``config/sites/<name>/`` from an export (copied to ``data/raw/<name>/``)."""
    root = root or project_root()
    site_dir = root / "config" / "sites" / name
    if site_dir.exists():
        raise FileExistsError(f"{site_dir} exists already; choose another NAME")
    export_path = Path(export_path).resolve()
    variables = _variables(export_path)
    identifiers = [v for v in variables if _identifier(v)]
    codebook = propose_codebook([v for v in variables if not _identifier(v)])
    raw_dir = root / "data" / "raw" / name
    raw_dir.mkdir(parents=True, exist_ok=True)
    raw_file = raw_dir / export_path.name
    if export_path != raw_file:
        shutil.copy2(export_path, raw_file)
    (site_dir / "codebook").mkdir(parents=True)
    text = site_yaml(
        name,
        str(raw_file.relative_to(root)),
        codebook,
        [v.header for v in identifiers],
        export_path.name,
    )
    (site_dir / "site.yml").write_text(text, encoding="utf-8")
    codebook.to_csv(site_dir / "codebook" / "survey.csv", index=False, lineterminator="\n")
    (site_dir / "constructs.csv").write_text(
        "name,level,domain,label_zh,label_en\n"
        f"{TODO},construct,{TODO},{TODO}: 构念中文名,{TODO}: construct label\n",
        encoding="utf-8",
    )
    return site_dir


def find_todos(site_dir: Path) -> list[str]:
    """Every ``TODO`` left in a site's site.yml, codebook files and constructs.csv.

    Each as "file: where": ``site.yml: key 'title_en'``, ``codebook/survey.csv: row 12,
    column 'instrument'`` (rows counted as in a spreadsheet, the header being row 1).
    """
    found = []
    site_file = site_dir / "site.yml"
    settings = yaml.safe_load(site_file.read_text(encoding="utf-8")) or {}

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and node.strip().upper().startswith(TODO):
            found.append(f"{site_file}: key '{path}' is {node!r}")

    walk(settings, "")  # values only: a TODO in a comment is a hint, not a missing answer
    tables = [site_dir / f for f in settings.get("codebook", []) if isinstance(f, str)]
    tables.append(site_dir / str(settings.get("constructs", "constructs.csv")))
    for table in tables:
        if not table.is_file():
            continue
        frame = pd.read_csv(table, dtype=str, keep_default_na=False, encoding="utf-8")
        for column in frame.columns:
            for row in frame.index[frame[column].str.strip().str.upper().str.startswith(TODO)]:
                found.append(f"{table}: row {row + 2}, column '{column}' is TODO")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.scaffold", description=__doc__)
    parser.add_argument("--name", required=True, help="new site name, e.g. x-county")
    parser.add_argument(
        "--export", required=True, type=Path, help="the survey export (csv, xlsx, sav)"
    )
    args = parser.parse_args(argv)
    site_dir = scaffold_site(args.name, args.export)
    todos = find_todos(site_dir)
    print(
        f"wrote {site_dir}/site.yml, codebook/survey.csv and constructs.csv; {len(todos)} TODOs "
        "to fill in: instrument, construct and domain of the rating items, reverse keying, "
        "the constructs and domains in constructs.csv, the titles and grouping in site.yml.\n"
        f"Then run `make validate SITE={args.name}` until it is clean (it names every TODO left)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
