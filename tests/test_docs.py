"""Documentation that matches the code: every table docs/design.md names is written by the
stage it names (the string is a file name the stage's code writes), and the README and the
design name the files that exist. tests/test_chain.py checks the other direction on the
chain's outputs (every table a stage publishes is named in docs/design.md)."""

import ast
import re
from pathlib import Path

from policestress.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
PACKAGE = ROOT / "src" / "policestress"
# Modules whose code writes each stage's files besides its policestress.stagework module.
WRITERS = {
    "report": ["report.py", "publication.py"],
}
OUTPUT = re.compile(r"[A-Za-z0-9_<>*]+\.(?:csv|lavaan|html|pdf|zip|docx|tex)")


def design_outputs() -> dict[str, list[str]]:
    """Stage -> the files the design's stage table says it writes."""
    rows = {}
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in STAGES:
            rows[cells[0]] = OUTPUT.findall(cells[3])
    return rows


def literals(path: Path) -> list[str]:
    """Every string constant of a module, f-strings with ``{}`` for their fields."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            found.append(
                "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def written_by(stage: str, name: str) -> bool:
    modules = [
        PACKAGE / "stagework" / f"{stage}.py",
        *(PACKAGE / m for m in WRITERS.get(stage, [])),
    ]
    pattern = re.escape(name).replace(r"\*", ".+")
    pattern = re.sub(r"<[^>]+>", ".+", pattern.replace(r"\<", "<").replace(r"\>", ">"))
    code = [s for m in modules for s in literals(m)]
    return any(re.fullmatch(pattern, s.replace("{}", "x")) for s in code)


def test_the_design_lists_the_outputs_of_every_stage():
    assert set(design_outputs()) == set(STAGES)


def test_every_table_the_design_names_is_written_by_its_stage():
    missing = [
        f"{stage}: {name}"
        for stage, names in design_outputs().items()
        for name in names
        if not written_by(stage, name)
    ]
    assert missing == [], "named in docs/design.md, written by no stage: " + ", ".join(missing)


def test_the_reader_finds_the_files_the_docs_point_to():
    text = DESIGN.read_text(encoding="utf-8") + (ROOT / "README.md").read_text(encoding="utf-8")
    for path in re.findall(r"`(src/policestress/[\w/]+\.py|tests/\w+\.py|docs/\w+\.md)`", text):
        assert (ROOT / path).exists(), path


def test_the_readme_sections_the_configuration_cites_exist():
    headings = {
        line.lstrip("#").strip()
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    files = [*(ROOT / "config" / "sites").glob("*/site.yml"), PACKAGE / "config.py"]
    files.append(PACKAGE / "scaffold.py")
    cited = []
    for path in files:
        for section in re.findall(
            r"README(?:\.md)?(?:'s)?,? \"([^\"]+)\"", path.read_text("utf-8")
        ):
            cited.append(section)
            assert section in headings, f"{path.name} cites the README section {section!r}"
    assert cited
