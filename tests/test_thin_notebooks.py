"""The stage notebooks are thin: narrative, parameters and calls into the package.

Counted from each notebook's syntax tree (code cells after the ``parameters`` cell): a code
line is *logic* when a node of control flow (``if``, loops, ``try``, ``with``, function or
class definitions, lambdas, comprehensions, conditional expressions, boolean operators,
comparisons) or of DataFrame manipulation (indexing by anything but a constant,
``.loc``/``.iloc``, the pandas methods of :data:`DATAFRAME_METHODS`) spans it. At most 10%
of a notebook's code lines may be logic; no helper is defined and nothing is asserted in a
notebook (checks live in the tests).
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_LOGIC_SHARE = 0.10

CONTROL_FLOW = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.With,
    ast.AsyncWith,
    ast.Match,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.IfExp,
    ast.BoolOp,
    ast.Compare,
)
DATAFRAME_METHODS = {
    "agg",
    "apply",
    "assign",
    "astype",
    "concat",
    "describe",
    "drop",
    "drop_duplicates",
    "dropna",
    "fillna",
    "filter",
    "groupby",
    "head",
    "insert",
    "isin",
    "join",
    "map",
    "mask",
    "melt",
    "merge",
    "pivot",
    "pivot_table",
    "query",
    "rename",
    "reset_index",
    "round",
    "set_index",
    "sort_values",
    "tail",
    "unstack",
    "where",
}
INDEXERS = {"loc", "iloc", "at", "iat"}


def is_logic(node: ast.AST) -> bool:
    if isinstance(node, CONTROL_FLOW):
        return True
    if isinstance(node, ast.Subscript):
        return not isinstance(node.slice, ast.Constant)
    if isinstance(node, ast.Attribute) and node.attr in INDEXERS:
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in DATAFRAME_METHODS
    )


def code_cells(path: Path) -> list[str]:
    """Sources of the code cells after the parameters cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    tags = [c.get("metadata", {}).get("tags", []) for c in code]
    first = next(i for i, t in enumerate(tags) if "parameters" in t) + 1
    return ["".join(c["source"]) for c in code[first:]]


def line_counts(source: str) -> tuple[set[int], set[int]]:
    """(code lines, logic lines) of one cell, by line number."""
    tree = ast.parse(source)
    code, logic = set(), set()
    for node in ast.walk(tree):
        if not hasattr(node, "lineno"):
            continue
        lines = set(range(node.lineno, node.end_lineno + 1))
        code |= lines
        if is_logic(node):
            logic |= lines
    text = source.splitlines()
    code = {n for n in code if text[n - 1].strip() and not text[n - 1].strip().startswith("#")}
    return code, logic & code


def logic_share(path: Path) -> tuple[int, int]:
    n_code = n_logic = 0
    for source in code_cells(path):
        code, logic = line_counts(source)
        n_code += len(code)
        n_logic += len(logic)
    return n_logic, n_code


def test_the_counter_counts_control_flow_and_dataframe_manipulation():
    source = (
        "import pandas as pd\n"
        "x = work.tables['a.csv']\n"
        "show(x)\n"
        "if x.empty:\n"
        "    print('none')\n"
        "y = x[x['n'] > 5]\n"
        "z = x.round(3)\n"
    )
    code, logic = line_counts(source)
    assert code == {1, 2, 3, 4, 5, 6, 7}
    assert logic == {4, 5, 6, 7}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_at_most_a_tenth_logic(path):
    n_logic, n_code = logic_share(path)
    assert n_code > 0, path.name
    assert n_logic <= MAX_LOGIC_SHARE * n_code, (
        f"{path.name}: {n_logic} of {n_code} code lines are logic "
        f"({n_logic / n_code:.0%} > {MAX_LOGIC_SHARE:.0%}): move them into the package"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_helper_and_asserts_nothing(path):
    for source in code_cells(path):
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
            ), f"{path.name} defines a helper at line {node.lineno}: it belongs in the package"
            assert not isinstance(node, ast.Assert), (
                f"{path.name} asserts at line {node.lineno}: checks belong in the tests"
            )


# Three Latin words in a row: an English phrase (technical terms such as "CFA", "lavaan",
# "n_jobs" or "R²" stand alone in the Chinese sentences).
ENGLISH_PHRASE = re.compile(r"[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_the_generated_narrative_of_a_zh_site_holds_no_english_sentence():
    """Every sentence the stages generate through policestress.stagework.narrative, for the
    zh site (y-subbureau-sim): Chinese, with no English phrase."""
    import pandas as pd

    from policestress.config import load_site
    from policestress.stagework import narrative

    cfg = load_site("y-subbureau-sim")
    assert cfg.language == "zh"
    values = {
        "n_boot": 200, "seed": 1, "ci": 0.95, "n_jobs": 2, "gap": 0.001, "site": cfg.name,
        "error": "未收敛", "replications": 100, "parameters": 30, "power": 0.8,
        "convergence": 0.95, "needed": "n = 300", "n": 12, "folder": "tables/y/thesis/",
        "files": "[]",
    }  # fmt: skip
    row = pd.Series(
        {"label": "危急事件风险", "rank": 1, "n_sources": 15, "rank_ci_low": 1,
         "rank_ci_high": 2, "share": 0.22, "beta": 0.27, "beta_ci_low": 0.18,
         "beta_ci_high": 0.36, "mean_rank": 1, "sd_rank": 1}
    )  # fmt: skip
    texts = [narrative.sentence("zh", name, **values, **row) for name in narrative.SENTENCES]
    texts.append(narrative.evidence_text(row, "zh"))
    texts += [
        narrative.introduction(cfg, s, n=300, outcome="score_x") for s in narrative.INTRODUCTIONS
    ]
    texts += [narrative.banner(cfg), narrative.instrument_text(cfg, "zh")]
    for text in texts:
        assert CHINESE.search(text), text
        assert not ENGLISH_PHRASE.search(text), text
    # and the English site's sentences are English
    assert not CHINESE.search(narrative.evidence_text(row.replace("危急事件风险", "risk"), "en"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_markdown_cell_is_bilingual(path):
    """One notebook serves zh and en sites: each markdown cell holds its English text and
    its Chinese translation."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            assert CHINESE.search(text), f"{path.name} cell {number}: no Chinese"
            assert re.search(r"[A-Za-z]{3,}", text), f"{path.name} cell {number}: no English"


def test_a_zh_site_says_in_chinese_why_a_stage_is_skipped(site, monkeypatch):
    """The reason a stage gives for skipping itself (shown in its notebook and the report) is
    in the site's language, as the rest of the narrative."""
    from policestress.config import Codebook
    from policestress.stages import StageSkipped
    from policestress.stagework import eri, synthesis

    assert site.language == "zh"
    monkeypatch.setattr(Codebook, "has_instrument", lambda self, name: name != "eri")
    monkeypatch.setattr(Codebook, "outcome_score", lambda self: None)
    reasons = []
    with pytest.raises(StageSkipped) as skipped:
        eri.run(site)
    reasons.append(str(skipped.value))
    with pytest.raises(StageSkipped) as skipped:
        synthesis.outcome_column(site, None)
    reasons.append(str(skipped.value))
    for reason in reasons:
        assert re.search(r"[\u4e00-\u9fff]{4}", reason), reason
        assert not re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", reason), reason
