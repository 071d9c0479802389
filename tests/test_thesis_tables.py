"""Publication tables: APA numbers, thesis layouts, Word (A4, SEQ captions, three-line rules)
and LaTeX (compiles with xelatex), and the captions and labels shared with the report.

The same checks run on both simulated sites' real tables in tests/test_chain.py.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import numpy as np
import pandas as pd
import pytest
from docx.oxml.ns import qn
from docx.shared import Cm

from policestress import publication as pub
from policestress import thesis_tables as tt
from policestress.config import CODEBOOK_COLUMNS, Codebook

XELATEX = shutil.which("xelatex")
requires_xelatex = pytest.mark.skipif(
    XELATEX is None,
    reason="xelatex not installed (Debian: texlive-xetex texlive-lang-chinese texlive-latex-extra)",
)


@pytest.fixture
def codebook() -> Codebook:
    rows = []
    for construct, prefix in (("workload", "OCC_WL"), ("critical_incident", "OCC_CI")):
        for k in (1, 2, 3):
            rows.append(
                {
                    "item_id": f"{prefix}{k}",
                    "instrument": "stress_sources",
                    "construct": construct,
                    "domain": "occupational",
                    "type": "likert",
                    "label_zh": f"{construct}题{k}",
                    "label_en": f"{construct} item {k}",
                }
            )
    rows.append(
        {
            "item_id": "post_type",
            "instrument": "demographics",
            "type": "categorical",
            "label_zh": "岗位类型",
            "label_en": "Post",
            "values_zh": "1=巡逻;2=办案",
            "values_en": "1=Patrol;2=Cases",
        }
    )
    items = pd.DataFrame(rows).reindex(columns=CODEBOOK_COLUMNS, fill_value="")
    constructs = pd.DataFrame(
        {
            "name": ["workload", "critical_incident", "occupational", "perceived_stress"],
            "level": ["construct", "construct", "domain", "construct"],
            "domain": ["occupational", "occupational", "", "outcome"],
            "label_zh": ["工作负荷", "突发事件风险", "职业因素", "职业压力感"],
            "label_en": ["Workload", "Critical-incident risk", "Occupational factors", "Stress"],
        }
    )
    return Codebook(items, constructs)


def _fit_row(model: str, chi2: float, df: int, cfi: float) -> dict:
    return {
        "model": model,
        "n": 325,
        "npar": 20,
        "chi2": chi2,
        "df": df,
        "p": 0.0,
        "chi2_df": chi2 / df,
        "cfi": cfi,
        "tli": cfi - 0.01,
        "nfi": cfi - 0.02,
        "rmsea": 0.0234,
        "rmsea_ci_low": 0.0161,
        "rmsea_ci_high": 0.0292,
        "rmsea_pclose": 1.0,
        "srmr": 0.045,
        "gfi": 0.9,
        "agfi": 0.88,
        "logl": -18000.4,
        "aic": 37382.91,
        "bic": 38120.77,
        "bic2": 37500.0,
        "baseline_chi2": 9000.0,
        "baseline_df": 990,
        "converged": True,
    }


@pytest.fixture
def tidy() -> dict[str, pd.DataFrame]:
    """Small tidy tables with the stages' columns (the shape tests/test_chain.py checks)."""
    items = [f"OCC_WL{k}" for k in (1, 2, 3)] + [f"OCC_CI{k}" for k in (1, 2, 3)]
    loadings = []
    for i, item in enumerate(items):
        on_first = i >= 3  # critical-incident items load on MR1, workload items on MR2
        for factor in ("MR1", "MR2"):
            big = (factor == "MR1") == on_first
            loadings.append(
                {
                    "item": item,
                    "factor": factor,
                    "loading": 0.71 - 0.05 * i if big else 0.12 - 0.4 * (i == 2),
                    "communality": 0.5 + 0.01 * i,
                    "uniqueness": 0.5 - 0.01 * i,
                }
            )
    comparisons = pd.DataFrame(
        {
            "score": ["score_workload", "score_critical_incident"],
            "score_label": ["工作负荷", "突发事件风险"],
            "grouping": "post_type",
            "grouping_label": "岗位类型",
            "test": "welch_t",
            "k_groups": 2,
            "n": [398, 395],
            "groups": "巡逻; 办案",
            "statistic": [2.5, -0.4],
            "df1": [np.nan, np.nan],
            "df2": [210.3, 199.9],
            "p": [0.0004, 0.69],
            "p_adj": [0.0012, 0.69],
            "correction": "holm",
            "hedges_g": [0.25, -0.04],
            "eta_sq": [np.nan, np.nan],
            "omega_sq": [np.nan, np.nan],
            "note": [np.nan, np.nan],
        }
    )
    means = pd.DataFrame(
        [
            {
                "score": s,
                "grouping": "post_type",
                "code": c,
                "group": g,
                "n": 200,
                "mean": m,
                "sd": 0.8,
            }
            for s in ("score_workload", "score_critical_incident")
            for c, g, m in (("1", "巡逻", 3.62), ("2", "办案", 3.4))
        ]
    )
    return {
        "efa_loadings": pd.DataFrame(loadings),
        "efa_adequacy": pd.DataFrame(
            [
                {
                    "kmo": 0.83,
                    "bartlett_chi2": 5931.6,
                    "bartlett_df": 990,
                    "bartlett_p": 0.0,
                    "n_factors_parallel": 2,
                    "n": 325,
                    "n_items": 6,
                    "extraction": "minres",
                    "rotation": "oblimin",
                }
            ]
        ),
        "cfa_fit": pd.DataFrame(
            [
                _fit_row("one_factor", 4312.88, 945, 0.36),
                _fit_row("second_order", 980.48, 840, 0.9731),
            ]
        ),
        "reliability": pd.DataFrame(
            {
                "scale": ["workload", "occupational"],
                "level": ["construct", "domain"],
                "n_items": [3, 6],
                "n": [380, 371],
                "alpha": [0.7677, 0.8123],
                "alpha_ci_low": [0.7241, 0.78],
                "alpha_ci_high": [0.8054, 0.84],
                "omega": [0.7685, 0.82],
                "alpha_below_threshold": [False, False],
            }
        ),
        "group_comparisons": comparisons,
        "group_means": means,
        "sample_profile": pd.DataFrame(
            {
                "variable": ["post_type", "post_type"],
                "variable_label": ["岗位类型", "岗位类型"],
                "code": ["1", "2"],
                "category": ["巡逻", "办案"],
                "n": [330, 70],
                "percent": [82.5, 17.5],
                "suppressed": [False, False],
            }
        ),
        "score_correlations": pd.DataFrame(
            {
                "var1": ["score_occupational", "score_occupational", "score_workload"],
                "var2": ["score_perceived_stress", "score_workload", "score_perceived_stress"],
                "method": "pearson",
                "n": [390, 398, 395],
                "r": [0.5612, 0.9, 0.3],
                "p": [1e-20, 1e-30, 1e-5],
                "stars": ["***", "***", "***"],
            }
        ),
        "eri_odds_ratios": pd.DataFrame(
            {
                "model": ["unadjusted", "adjusted", "adjusted"],
                "term": ["eri_imbalance", "eri_imbalance", "post_type[2]"],
                "variable": ["eri_imbalance", "eri_imbalance", "post_type"],
                "level": [np.nan, np.nan, 2.0],
                "odds_ratio": [3.288, 3.2987, 0.998],
                "ci_low": [1.824, 1.8183, 0.549],
                "ci_high": [5.929, 5.9845, 1.813],
                "p": [7.5e-05, 8.6e-05, 0.9949],
                "n": 365,
                "outcome_definition": "high stress: score_perceived_stress >= 4",
            }
        ),
        "eri_prevalence": pd.DataFrame(
            {
                "group_var": ["overall", "post_type", "post_type"],
                "group": ["all", "1", "2"],
                "group_label": ["all", "巡逻", "办案"],
                "n": [372, 126, 4],
                "n_imbalance": [232, 83, 3],
                "prevalence": [0.623655914, 0.6587301587, 0.75],
                "ci_low": [0.5733966261, 0.5723451212, 0.3],
                "ci_high": [0.6713874386, 0.7357228901, 0.95],
                "suppressed": [False, False, True],
            }
        ),
    }


@pytest.fixture
def tables(tidy, codebook) -> list[pub.PublicationTable]:
    return pub.publication_tables(tidy, codebook, "zh", simulated=True)


def _by_key(tables, key):
    return next(t for t in tables if t.key == key)


# ---- numbers ------------------------------------------------------------------------------


def test_numbers_follow_apa():
    assert [pub.format_p(p) for p in (0.0, 0.00049, 0.001, 0.0321, 0.05, 0.9996)] == [
        "< .001",
        "< .001",
        ".001",
        ".032",
        ".050",
        "> .999",
    ]
    assert pub.format_p(0.0321, symbol=True) == "p = .032"
    assert pub.format_p(1e-9, symbol=True) == "p < .001"
    # no leading zero when the statistic cannot exceed 1; fixed decimals per statistic
    assert pub.format_number(0.8123, "alpha") == ".81"
    assert pub.format_number(0.97312, "cfi") == ".973"
    assert pub.format_number(-0.456, "loading") == "\u2212.46"
    assert pub.format_number(-0.0004, "r") == ".00"  # no negative zero
    assert pub.format_number(3.4871, "mean") == "3.49"  # not bounded: leading zero kept
    assert pub.format_number(0.27, "beta") == "0.27"
    assert pub.format_number(82.5, "percent") == "82.5"
    assert pub.format_number(3.0, "df") == "3" and pub.format_number(185.0132, "df") == "185.01"
    assert pub.format_number(np.nan, "cfi") == ""
    assert pub.format_ci(0.0161, 0.0292, "rmsea") == "[.016, .029]"
    with pytest.raises(KeyError, match="unknown statistic"):
        pub.format_number(1.0, "not_a_statistic")
    with pytest.raises(ValueError, match="p must lie"):
        pub.format_p(1.5)


# ---- layouts ------------------------------------------------------------------------------


def test_efa_loadings_are_an_item_by_factor_matrix(tables):
    t = _by_key(tables, "efa-loadings")
    # factors named after the construct whose items load on them, not MR1/MR2
    assert list(t.body.columns) == ["题项", "突发事件风险", "工作负荷", "h²"]
    assert t.body["题项"].tolist()[:3] == ["OCC_CI1", "OCC_CI2", "OCC_CI3"]  # sorted by factor
    row = t.body.set_index("题项").loc["OCC_WL1"]
    assert row["工作负荷"] == ".71" and row["突发事件风险"] == ""  # |.12| < .30 is blank
    assert t.body.set_index("题项").loc["OCC_WL1", "h²"] == ".50"
    assert any("|λ| < .30" in n for n in t.notes)
    assert any("h² 为共同度" in n for n in t.notes)


def test_loading_cutoff_is_a_parameter(tidy, codebook):
    t = _by_key(pub.publication_tables(tidy, codebook, "en", loading_cutoff=0.2), "efa-loadings")
    # with .20, the −.28 cross-loading of OCC_WL3 shows
    assert t.body.set_index("Item").loc["OCC_WL3", "Critical-incident risk"] == "\u2212.28"


def test_fit_table_has_the_usual_indices_and_the_appendix_the_full_set(tables):
    main, full = _by_key(tables, "cfa-fit"), _by_key(tables, "cfa-fit-full")
    assert list(main.body.columns) == [
        "模型",
        "χ²",
        "df",
        "χ²/df",
        "CFI",
        "TLI",
        "RMSEA [90% CI]",
        "SRMR",
        "AIC",
        "BIC",
    ]
    assert main.body.iloc[1].tolist() == [
        "二阶因子模型",
        "980.48",
        "840",
        "1.17",
        ".973",
        ".963",
        ".023 [.016, .029]",
        ".045",
        "37382.9",
        "38120.8",
    ]
    assert full.appendix and full.title == "附表 1" and not main.appendix
    assert len(full.body) >= 20 and "p（RMSEA ≤ .05）" in full.body["统计量"].tolist()
    assert any("附表 1" in n for n in main.notes)


def test_appendix_fit_table_shows_robust_indices_only_when_the_stage_has_them(tidy, codebook):
    full = _by_key(pub.publication_tables(tidy, codebook, "en"), "cfa-fit-full")
    assert not any("Robust" in s or "caled" in s for s in full.body["Statistic"])  # ML
    # ML under FIML: cfa_fit.csv has lavaan's FIML-corrected robust CFI/TLI/RMSEA only
    tidy["cfa_fit"] = tidy["cfa_fit"].assign(
        cfi_robust=[0.351, 0.9702], tli_robust=[0.34, 0.9601], rmsea_robust=[0.1, 0.0251]
    )
    full = _by_key(pub.publication_tables(tidy, codebook, "en"), "cfa-fit-full").body
    shown = full.set_index("Statistic")
    assert shown.loc["Robust CFI"].tolist() == [".351", ".970"]
    assert shown.loc["Robust RMSEA"].tolist() == [".100", ".025"]
    assert "Robust TLI" in shown.index and "Scaled χ²" not in shown.index


def test_group_comparisons_show_m_sd_per_group_with_test_df_p_and_effect(tables):
    t = _by_key(tables, "group-comparisons-post-type")
    assert isinstance(t.body.columns, pd.MultiIndex)
    assert t.header_rows[0] == ["", "岗位类型", "岗位类型", "", "", "", "", ""]
    assert t.header_rows[1] == ["得分", "巡逻", "办案", "Welch t", "df", "p", "校正 p", "Hedges' g"]
    assert t.rows[0] == [
        "工作负荷",
        "3.62 (0.80)",
        "3.40 (0.80)",
        "2.50",
        "210.30",
        "< .001",
        ".001",
        "0.25",
    ]


def test_reliability_and_prevalence_layouts(tables):
    rel = _by_key(tables, "reliability")
    assert rel.rows[0] == ["工作负荷", "构念", "3", "380", ".77 [.72, .81]", ".77"]
    prev = _by_key(tables, "eri-prevalence")
    assert prev.rows[0] == ["全体", "全体", "372", "232", "62.4 [57.3, 67.1]"]
    assert prev.rows[1][:2] == ["岗位类型", "巡逻"]
    assert prev.rows[2] == ["", "办案", "—", "—", "—"]  # a suppressed small cell
    assert any("Wilson" in n for n in prev.notes)


def test_numeric_variables_get_their_own_profile(tidy, codebook):
    tidy["sample_profile_numeric"] = pd.DataFrame(
        {
            "variable": ["post_type", "post_type"],  # any codebook item; labelled
            "variable_label": ["岗位类型", "岗位类型"],
            "n": [398, 3],
            "missing": [2, 397],
            "mean": [38.21, np.nan],
            "sd": [7.123, np.nan],
            "median": [38.0, np.nan],
            "min": [22.0, np.nan],
            "max": [59.0, np.nan],
            "suppressed": [False, True],
        }
    )
    t = _by_key(pub.publication_tables(tidy, codebook, "en"), "sample-profile-numeric")
    assert t.rows == [
        ["Post", "398", "38.21", "7.12", "38.00", "22.00", "59.00"],
        ["Post", "3", "—", "—", "—", "—", "—"],
    ]
    assert pub.TEXT["en"]["suppressed"] in t.notes


def test_correlations_are_a_lower_triangle_of_the_domain_scores(tables):
    t = _by_key(tables, "score-correlations")
    # domain and outcome scores only (the construct-level matrix is too wide)
    assert t.body.iloc[:, 0].tolist() == ["1. 职业因素", "2. 职业压力感"]
    assert list(t.body.columns) == ["变量", "1"] and t.rows == [
        ["1. 职业因素", "—"],
        ["2. 职业压力感", ".56***"],
    ]
    assert "* p < .05，** p < .01，*** p < .001。" in t.notes


def test_odds_ratios_name_levels_and_reference_categories(tidy, codebook):
    [t] = [x for x in pub.publication_tables(tidy, codebook, "en") if x.key == "eri-odds-ratios"]
    assert t.rows == [
        ["Unadjusted", "Effort-reward imbalance (ERI > 1)", "3.29 [1.82, 5.93]", "< .001"],
        ["Adjusted", "Effort-reward imbalance (ERI > 1)", "3.30 [1.82, 5.98]", "< .001"],
        ["", "Post: Cases", "1.00 [0.55, 1.81]", ".995"],
    ]
    assert "Reference categories of the adjusted model: Post: Patrol." in t.notes
    assert "Outcome: high perceived stress (Stress ≥ 4)." in t.notes


def test_categories_are_labelled_in_the_table_language(tidy, codebook):
    """Group labels in the tidy tables are in the site's language; an English table relabels
    them from the codebook's value labels."""
    tables = pub.publication_tables(tidy, codebook, "en")
    assert _by_key(tables, "sample-profile").body["Category"].tolist() == ["Patrol", "Cases"]
    assert _by_key(tables, "group-comparisons-post-type").header_rows[1][1:3] == ["Patrol", "Cases"]
    assert [r[1] for r in _by_key(tables, "eri-prevalence").rows] == ["All", "Patrol", "Cases"]


def test_every_table_is_numbered_captioned_and_marked_simulated(tables):
    main = [t for t in tables if not t.appendix]
    assert [t.number for t in main] == list(range(1, len(main) + 1))
    assert tables[-1].appendix  # appendix tables come last
    for t in tables:
        assert t.caption and t.note_text.startswith("注：")
        assert pub.SIMULATED_NOTE["zh"] in t.notes
        assert (
            pub.table_problems(
                t, ["OCC_WL1", "OCC_WL2", "OCC_WL3", "OCC_CI1", "OCC_CI2", "OCC_CI3"]
            )
            == []
        )


def test_an_id_without_a_label_is_named_in_a_warning(tidy, codebook):
    tidy["cfa_fit"].loc[1, "model"] = "my_model"
    with pytest.warns(UserWarning, match=r"cfa-fit: column '模型' row 2: internal id 'my_model'"):
        tables = pub.publication_tables(tidy, codebook, "zh")
    assert _by_key(tables, "cfa-fit").rows[1][0] == "my_model"  # shown, not dropped


def test_html_has_the_caption_spanning_headers_and_the_note(tables):
    page = pub.to_html(_by_key(tables, "group-comparisons-post-type"))
    assert (
        '<caption><span class="pub-number">表 4</span> 各维度得分的群体差异比较：岗位类型</caption>'
        in page
    )
    assert '<th colspan="2" class="span">岗位类型</th>' in page
    assert '<td colspan="8">注：' in page and "SIMULATED" in page
    assert page.count("<tr>") == 2 + 2 + 1  # two header rows, two body rows, the note


def test_read_tables_accepts_an_empty_csv(tmp_path):
    (tmp_path / "synthesis_findings.csv").write_text("\n", encoding="utf-8")
    pd.DataFrame({"group": ["01"], "n": [3]}).to_csv(tmp_path / "eri_prevalence.csv", index=False)
    tables = pub.read_tables(tmp_path)
    assert tables["synthesis_findings"].empty
    assert tables["eri_prevalence"]["group"].tolist() == ["01"]  # codes stay text


def test_table_problems_names_what_a_reader_should_not_see():
    body = pd.DataFrame(
        {
            "p": ["0.000", ".032"],
            "x": ["True", "{'item': 'ATT1'}"],
            "y": ["stress_sources", "OCC_WL1"],
        }
    )
    problems = pub.table_problems(pub.PublicationTable("k", 1, "c", body), ["OCC_WL1"])
    assert any("p printed as zero" in p for p in problems)
    assert any("Python value 'True'" in p for p in problems)
    assert any("braces" in p for p in problems)
    assert any("internal id 'stress_sources'" in p for p in problems)
    assert not any("OCC_WL1" in p for p in problems)
    twice = pd.DataFrame([["a", "b"]], columns=["n", "n"])
    assert any(
        "duplicated" in p for p in pub.table_problems(pub.PublicationTable("d", 1, "c", twice))
    )


# ---- Word -----------------------------------------------------------------------------------


def _seq_fields(document) -> list[str]:
    return [e.text.strip() for e in document.element.body.iter(qn("w:instrText"))]


def _assert_three_line(table, header_rows: int) -> None:
    borders = {c.tag.split("}")[1]: c for c in table._tbl.tblPr.find(qn("w:tblBorders"))}
    assert (
        borders["top"].get(qn("w:sz")) == borders["bottom"].get(qn("w:sz")) == str(pub.THICK_RULE)
    )
    for edge in ("left", "right", "insideH", "insideV"):
        assert borders[edge].get(qn("w:val")) == "nil"
    for r, row in enumerate(table.rows):
        for cell in row.cells:
            tc_pr = cell._tc.tcPr
            tc_borders = tc_pr.find(qn("w:tcBorders")) if tc_pr is not None else None
            if r == header_rows - 1:  # the thin rule under the header
                assert tc_borders.find(qn("w:bottom")).get(qn("w:sz")) == str(pub.THIN_RULE)
            if tc_borders is not None:  # never a vertical rule, never a thick inner rule
                assert {c.tag.split("}")[1] for c in tc_borders} == {"bottom"}
                assert r < header_rows
                assert tc_borders.find(qn("w:bottom")).get(qn("w:sz")) == str(pub.THIN_RULE)


def test_docx_is_a4_with_seq_captions_and_three_line_rules(tables, tmp_path):
    listing = pub.write_publication_tables(tables, tmp_path)
    assert listing["docx"].tolist() == [f"{t.key}.docx" for t in tables]
    for t in tables:
        document = docx.Document(tmp_path / f"{t.key}.docx")
        section = document.sections[0]
        short, long = sorted((section.page_width, section.page_height))
        assert abs(short - Cm(21.0)) < Cm(0.01) and abs(long - Cm(29.7)) < Cm(0.01)
        assert (section.page_width > section.page_height) == (t.orientation == "landscape")
        caption = next(p for p in document.paragraphs if p.style.name == "Caption")
        assert caption.text == f"{t.title}\u3000{t.caption}"
        seq = "附表" if t.appendix else "表"
        assert _seq_fields(document) == [f"SEQ {seq} \\* ARABIC"]
        # the caption comes before the table in the body
        body = list(document.element.body)
        assert body.index(caption._p) < body.index(document.tables[0]._tbl)
        _assert_three_line(document.tables[0], len(t.header_rows))
        assert document.paragraphs[-1].text == t.note_text
    styles = docx.Document(tmp_path / f"{tables[0].key}.docx").styles
    fonts = styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:ascii")) == "Times New Roman" and fonts.get(qn("w:eastAsia")) == "SimSun"


# The order OOXML prescribes for the children of these elements (Word refuses others).
SCHEMA_ORDER = {
    "tblPr": "tblStyle tblpPr tblOverlap bidiVisual tblStyleRowBandSize tblStyleColBandSize tblW "
    "jc tblCellSpacing tblInd tblBorders shd tblLayout tblCellMar tblLook",
    "tcPr": "cnfStyle tcW gridSpan hMerge vMerge tcBorders shd noWrap tcMar textDirection "
    "tcFitText vAlign hideMark",
}


def test_docx_table_properties_are_in_schema_order(tidy, codebook, tmp_path):
    tables = pub.publication_tables(tidy, codebook, "en")
    # a matrix wide enough for turned headers
    wide = pd.DataFrame({"Item": ["OCC_WL1"], **{f"Factor {k}": [".50"] for k in range(14)}})
    tables.append(pub.PublicationTable("wide", 99, "Wide", wide, orientation="landscape"))
    document = docx.Document(pub.write_docx(tables, tmp_path / "all.docx"))
    assert docx.Document(tmp_path / "all.docx").tables[-1]._tbl.xpath(".//w:textDirection")
    for tag, order in SCHEMA_ORDER.items():
        order = order.split()
        for element in document.element.body.iter(qn(f"w:{tag}")):
            children = [child.tag.split("}")[1] for child in element]
            assert children == sorted(children, key=order.index), children


def test_combined_docx_holds_every_table_in_order_with_landscape_sections(tables, tmp_path):
    pub.write_publication_tables(tables, tmp_path)
    document = docx.Document(tmp_path / pub.COMBINED_DOCX)
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption"]
    assert captions == [f"{t.title}\u3000{t.caption}" for t in tables]
    assert len(document.tables) == len(tables)
    orientations = [s.page_width > s.page_height for s in document.sections]
    runs = [t.orientation == "landscape" for t in tables]
    # one section per run of equal orientation
    expected = [o for i, o in enumerate(runs) if i == 0 or o != runs[i - 1]]
    assert orientations == expected
    margins = document.sections[0]
    # Word stores margins in twips: equal to a twip
    assert abs(margins.top_margin - Cm(2.5)) < 635 and abs(margins.left_margin - Cm(3.0)) < 635


def test_docx_bytes_do_not_depend_on_the_time(tables, tmp_path):
    first = pub.write_docx(tables[:2], tmp_path / "a.docx").read_bytes()
    second = pub.write_docx(tables[:2], tmp_path / "b.docx").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.docx") as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# ---- LaTeX ----------------------------------------------------------------------------------


def test_latex_labels_greek_and_three_rules(tables):
    fit = pub.to_latex(_by_key(tables, "cfa-fit"))
    assert r"\label{tab:cfa-fit}" in fit
    assert r"$\chi^2$/df" in fit and "χ" not in fit and "²" not in fit
    assert "\u2212" not in fit
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert fit.count(rule) == 1
    assert "|" not in fit.split(r"\begin{tabular}{")[1].split("}")[0]
    assert r"\begin{adjustbox}{max width=\linewidth}" in fit
    rel = pub.to_latex(_by_key(tables, "reliability"))
    assert r"$\alpha$ [95\% CI]" in rel and r"$\omega$" in rel
    group = pub.to_latex(_by_key(tables, "group-comparisons-post-type"))
    assert r"\multicolumn{2}{c}{岗位类型}" in group and r"\cmidrule(lr){2-3}" in group


def test_latex_escape():
    assert pub.latex_escape(r"a_b & 50% #") == r"a\_b \& 50\% \#"
    assert pub.latex_escape("ΔCFI ≥ −.010") == r"$\Delta$CFI $\geq$ $-$.010"
    assert pub.latex_escape("η²") == r"$\eta^2$"


def _xelatex(tex: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [XELATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tex.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


@requires_xelatex
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_tex_compiles_alone_and_through_tables_tex(tidy, codebook, tmp_path, language):
    tables = pub.publication_tables(tidy, codebook, language, simulated=True)
    pub.write_publication_tables(tables, tmp_path)
    for tex in [tmp_path / f"{t.key}.tex" for t in tables] + [tmp_path / pub.LATEX_DRIVER]:
        proc = _xelatex(tex)
        log = tex.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, f"{tex.name}:\n" + proc.stdout[-3000:]
        assert tex.with_suffix(".pdf").stat().st_size > 0
        assert "Missing character" not in log, tex.name  # every glyph is in the fonts
        assert "Overfull \\hbox" not in log, tex.name  # wide tables fit the page
    driver = (tmp_path / pub.LATEX_DRIVER).read_text(encoding="utf-8")
    assert [line for line in driver.splitlines() if line.startswith(r"\input")] == [
        rf"\input{{{t.key}.tex}}" for t in tables
    ]


# ---- captions and labels shared with the report -----------------------------------------------


def test_publication_captions_come_from_the_captions_file(tables):
    rows = [r for r in pub.template_rows("captions.csv") if r["kind"] == "publication"]
    assert all(r["caption_en"] and r["caption_zh"] for r in rows)
    assert _by_key(tables, "cfa-fit").caption == "竞争模型的验证性因子分析拟合指标"
    with pytest.raises(KeyError, match="no caption of kind 'publication' for 'nope'"):
        pub.publication_caption("nope", "en")


def test_captions_known_and_generic():
    assert tt.caption("reliability", "table", "en") == "Reliability of the scales"
    assert tt.caption("reliability", "table", "zh") == "各量表信度"
    assert tt.caption("brand_new", "figure", "zh") == "图：brand_new"
    assert tt.has_caption("cfa_fit") and not tt.has_caption("brand_new")
    with pytest.raises(ValueError, match="language"):
        tt.caption("reliability", "table", "fr")


def test_wildcard_captions_label_the_matched_part(codebook):
    assert tt.caption("likert_occupational", "figure", "zh", codebook) == (
        "题项作答分布：职业因素（发散堆积条形图）"
    )
    assert tt.caption("group_means_unknown_thing", "figure", "en", codebook) == (
        "Mean scores by group (unknown thing)"
    )
    assert tt.caption_order("sample_profile") < tt.caption_order("reliability")
