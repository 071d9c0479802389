"""Thesis tables: Word and LaTeX three-line tables hold the CSV's numbers, with codebook labels."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import docx
import numpy as np
import pandas as pd
import pytest
from docx.oxml.ns import qn

from policestress import thesis_tables as tt
from policestress.config import CODEBOOK_COLUMNS, Codebook


@pytest.fixture
def codebook() -> Codebook:
    items = pd.DataFrame(
        [
            {
                "item_id": "OCC_CI1",
                "construct": "critical_incident",
                "label_zh": "突发事件题1",
                "label_en": "Critical incident item 1",
            },
        ]
    ).reindex(columns=CODEBOOK_COLUMNS, fill_value="")
    constructs = pd.DataFrame(
        {
            "name": ["critical_incident", "occupational"],
            "level": ["construct", "domain"],
            "domain": ["occupational", ""],
            "label_zh": ["突发事件风险", "职业因素"],
            "label_en": ["Critical-incident risk", "Occupational factors"],
        }
    )
    return Codebook(items, constructs)


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    table = pd.DataFrame(
        {
            "predictor": ["score_critical_incident", "score_occupational", "OCC_CI1", "a_b & c%"],
            "beta": [0.27345678, -0.1234567, np.nan, 1.0e-5],
            "n": [392, 392, 390, 12],
            "df1": [np.nan, 2.0, 3.0, 4.0],
            "p": [0.0004, 0.0512, 0.5, 1.0],
        }
    )
    path = tmp_path / "synthesis_regression.csv"
    table.to_csv(path, index=False)
    return path


def _docx_cells(path: Path) -> list[list[str]]:
    table = docx.Document(path).tables[0]
    return [[c.text for c in row.cells] for row in table.rows]


def _latex_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    top, mid, bottom = (lines.index(x) for x in (r"\toprule", r"\midrule", r"\bottomrule"))
    header = lines[top + 1 : mid]
    body = lines[mid + 1 : bottom]

    def split(line: str) -> list[str]:
        cells = re.split(r"(?<!\\) & ", line.removesuffix(r" \\"))
        return [tt_unescape(c) for c in cells]

    return split(header[0]), [split(b) for b in body]


def tt_unescape(text: str) -> str:
    for plain, escaped in tt._LATEX_SPECIAL.items():
        text = text.replace(escaped, plain)
    return text.strip()


def _assert_same_numbers(cells: list[list[str]], csv: pd.DataFrame) -> None:
    """Every numeric CSV cell equals the rendered cell at 3 decimals (NaN -> empty)."""
    for r, (_, row) in enumerate(csv.iterrows()):
        for c, column in enumerate(csv.columns):
            value, text = row[column], cells[r][c]
            if pd.api.types.is_bool_dtype(csv[column]):
                assert text == str(value)
                continue
            if not pd.api.types.is_numeric_dtype(csv[column]):
                continue
            if pd.isna(value):
                assert text == ""
            else:
                assert float(text) == pytest.approx(round(float(value), 3), abs=1e-12), column


def test_docx_holds_the_csv_numbers_and_labels(csv_path, codebook, tmp_path):
    docx_path, _ = tt.thesis_table(csv_path, tmp_path / "thesis", codebook, language="zh")
    cells = _docx_cells(docx_path)
    assert cells[0] == ["预测变量", "β", "样本量", "df1", "p"]
    assert [r[0] for r in cells[1:]] == ["突发事件风险", "职业因素", "突发事件题1", "a_b & c%"]
    csv = pd.read_csv(csv_path)
    _assert_same_numbers(cells[1:], csv)
    assert cells[1][2] == "392" and cells[2][3] == "2"  # counts and df stay whole numbers
    paragraphs = [p.text for p in docx.Document(docx_path).paragraphs]
    assert "职业压力感对各压力源的标准化回归" in paragraphs  # caption from captions.csv


def test_docx_bytes_do_not_depend_on_the_time(csv_path, tmp_path):
    docx_path, _ = tt.thesis_table(csv_path, tmp_path / "thesis")
    with zipfile.ZipFile(docx_path) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2013-12-23" in archive.read("docProps/core.xml")  # template's fixed dates


def test_docx_is_a_three_line_table(csv_path, tmp_path):
    docx_path, _ = tt.thesis_table(csv_path, tmp_path / "thesis")
    table = docx.Document(docx_path).tables[0]
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    edges = {child.tag.split("}")[1]: child for child in borders}
    assert edges["top"].get(qn("w:val")) == "single"
    assert edges["bottom"].get(qn("w:val")) == "single"
    assert int(edges["top"].get(qn("w:sz"))) > int(tt.THIN_RULE)
    assert int(edges["bottom"].get(qn("w:sz"))) == int(edges["top"].get(qn("w:sz")))
    for edge in ("left", "right", "insideH", "insideV"):
        assert edges[edge].get(qn("w:val")) == "nil"
    # Thin rule under every header cell, and no cell borders anywhere else.
    for r, row in enumerate(table.rows):
        for cell in row.cells:
            tc_borders = (
                cell._tc.tcPr.find(qn("w:tcBorders")) if cell._tc.tcPr is not None else None
            )
            if r == 0:
                bottom = tc_borders.find(qn("w:bottom"))
                assert int(bottom.get(qn("w:sz"))) == tt.THIN_RULE
                assert [c.tag.split("}")[1] for c in tc_borders] == ["bottom"]
            else:
                assert tc_borders is None


def test_latex_holds_the_csv_numbers_and_escapes(csv_path, codebook, tmp_path):
    _, tex_path = tt.thesis_table(csv_path, tmp_path / "thesis", codebook, language="en")
    text = tex_path.read_text(encoding="utf-8")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert text.count(rule) == 1
    spec = re.search(r"\\begin\{tabular\}\{([^}]*)\}", text).group(1)
    assert "|" not in spec and spec == "lrrrr"
    assert r"a\_b \& c\%" in text
    assert r"\label{tab:synthesis\_regression}" in text
    header, body = _latex_rows(text)
    assert header == ["Predictor", "β", "n", "df1", "p"]
    assert [b[0] for b in body] == [
        "Critical-incident risk",
        "Occupational factors",
        "Critical incident item 1",
        "a_b & c%",
    ]
    _assert_same_numbers(body, pd.read_csv(csv_path))


def test_long_tables_use_longtable(tmp_path):
    path = tmp_path / "item_statistics.csv"
    pd.DataFrame({"item": [f"I{i}" for i in range(60)], "mean": np.linspace(1, 5, 60)}).to_csv(
        path, index=False
    )
    _, tex = tt.thesis_table(path, tmp_path / "thesis")
    text = tex.read_text(encoding="utf-8")
    assert r"\begin{longtable}{lr}" in text and r"\endhead" in text
    assert text.count(r"\bottomrule") == 1
    rows = [line for line in text.splitlines() if re.match(r"^I\d+ & ", line)]
    assert len(rows) == 60
    assert rows[-1] == r"I59 & 5.000 \\"


def test_latex_escape_every_special_character():
    assert tt.latex_escape(r"\ & % $ # _ { } ~ ^") == (
        r"\textbackslash{} \& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{}"
    )
    assert tt.latex_escape("two\nlines") == "two lines"


def test_captions_known_and_generic():
    assert tt.caption("reliability", "table", "en") == "Reliability of the scales"
    assert tt.caption("reliability", "table", "zh") == "各量表信度"
    assert tt.caption("brand_new", "figure", "zh") == "图：brand_new"
    assert tt.has_caption("cfa_fit") and not tt.has_caption("brand_new")
    with pytest.raises(ValueError, match="language"):
        tt.caption("reliability", "table", "fr")


def test_empty_table_still_written(tmp_path):
    path = tmp_path / "validation_warnings.csv"
    path.write_text("severity,rule,message\n", encoding="utf-8")
    docx_path, tex_path = tt.thesis_table(path, tmp_path / "thesis")
    assert _docx_cells(docx_path) == [["Severity", "Rule", "Message"]]
    assert r"\toprule" in tex_path.read_text(encoding="utf-8")


def test_write_thesis_tables_lists_every_csv(csv_path, tmp_path):
    other = tmp_path / "reliability.csv"
    pd.DataFrame({"scale": ["x"], "alpha": [0.9]}).to_csv(other, index=False)
    listing = tt.write_thesis_tables([csv_path, other], tmp_path / "thesis")
    assert listing["table"].tolist() == ["synthesis_regression.csv", "reliability.csv"]
    for name in [*listing["docx"], *listing["tex"]]:
        assert (tmp_path / "thesis" / name).is_file()


def test_columns_sharing_a_label_stay_distinct(tmp_path):
    path = tmp_path / "group_comparisons.csv"
    pd.DataFrame({"r": [0.5], "correlation": [0.25]}).to_csv(path, index=False)
    docx_path, tex_path = tt.thesis_table(path, tmp_path / "thesis")
    assert _docx_cells(docx_path) == [["r", "r (correlation)"], ["0.500", "0.250"]]
    header, body = _latex_rows(tex_path.read_text(encoding="utf-8"))
    assert header == ["r", "r (correlation)"] and body == [["0.500", "0.250"]]


def test_wildcard_captions_label_the_matched_part(codebook):
    assert tt.caption("likert_occupational", "figure", "zh", codebook) == (
        "题项作答分布：职业因素（发散堆积条形图）"
    )
    assert tt.caption("group_means_critical_incident_constructs", "figure", "en", codebook) == (
        "Mean scores by group (Critical-incident risk, constructs)"
    )
    assert tt.caption("group_means_unknown_thing", "figure", "en", codebook) == (
        "Mean scores by group (unknown thing)"
    )
    # The captions file orders the report: known stems first, in file order.
    assert tt.caption_order("sample_profile") < tt.caption_order("reliability")
    assert tt.caption_order("not_in_the_file") == max(
        tt.caption_order(s) for s in ("reliability", "synthesis_findings", "not_in_the_file")
    )


def test_wide_tables_go_on_a_landscape_page(tmp_path):
    path = tmp_path / "wide.csv"
    pd.DataFrame({f"c{i}": [1.5, 2.5] for i in range(10)}).to_csv(path, index=False)
    narrow = tmp_path / "narrow.csv"
    pd.DataFrame({"a": ["x"], "b": [1.0]}).to_csv(narrow, index=False)
    wide_doc = docx.Document(tt.thesis_table(path, tmp_path / "thesis")[0])
    narrow_doc = docx.Document(tt.thesis_table(narrow, tmp_path / "thesis")[0])
    wide_section, narrow_section = wide_doc.sections[0], narrow_doc.sections[0]
    assert wide_section.page_width > wide_section.page_height
    assert narrow_section.page_width < narrow_section.page_height
    # The columns fill the text width of the page.
    widths = [c.width for c in wide_doc.tables[0].columns]
    usable = wide_section.page_width - wide_section.left_margin - wide_section.right_margin
    assert abs(sum(widths) - usable) <= 635 * len(widths)  # widths are stored in twips
