"""The typed schema of site.yml (policestress.settings): one place for every key."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from policestress import settings as schema
from policestress.config import ConfigError, load_site
from policestress.stages import main as stages_main

ROOT = Path(__file__).resolve().parents[1]
SITES = sorted(p.name for p in (ROOT / "config" / "sites").iterdir())


def make_site(root: Path, changes: dict, name: str = "tmp-site") -> Path:
    """A copy of the W site under ``root`` with ``changes`` merged into its site.yml."""
    source = ROOT / "config" / "sites" / "w-subbureau-sim"
    target = root / "config" / "sites" / name
    shutil.copytree(source, target)
    settings = yaml.safe_load((target / "site.yml").read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = settings
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    (target / "site.yml").write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    return target / "site.yml"


def test_readme_key_table_is_the_schema():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- site-keys:start -->\n(.*?)\n<!-- site-keys:end -->", readme, re.S)
    assert block, "README lacks the generated site.yml key table"
    assert block.group(1) == schema.key_table_markdown(), (
        "README's site.yml table differs from the schema: paste `python -m policestress.settings`"
    )


def test_every_key_has_a_type_a_default_and_help():
    rows = schema.key_table()
    assert len(rows) > 60
    for key, kind, default, help_text in rows:
        assert kind and default and len(help_text) > 10, key
    keys = [r[0] for r in rows]
    # keys other engineers' code reads, and the ones undocumented before the schema
    for key in (
        "missing_values",
        "id",
        "header_row",
        "cfa.estimator",
        "cfa.missing",
        "cfa.models",
        "cfa.include",
        "synthesis.findings",
        "synthesis.outcome",
        "efa.flags.min_gap",
        "invariance.merge",
    ):
        assert key in keys, key


@pytest.mark.parametrize("site", SITES)
def test_every_key_of_the_shipped_sites_is_in_the_schema(site):
    raw = yaml.safe_load((ROOT / "config" / "sites" / site / "site.yml").read_text("utf-8"))
    checked = schema.check_settings(raw, "site.yml")

    def leaves(node, prefix=""):
        for name, value in node.items():
            path = f"{prefix}{name}"
            if isinstance(value, dict) and path not in ("cfa.models", "invariance.merge"):
                yield from leaves(value, path + ".")
            else:
                yield path

    known = set(schema.all_keys()) | {row[0] for row in schema.key_table()}
    assert set(leaves(checked)) <= known


def _code_keys() -> set[str]:
    """Dotted keys the package and notebooks read through ``.get("a.b")``."""
    # cfg.get("a.b"), and the stage modules' setting(cfg, "a.b", value)
    pattern = re.compile(
        r"""(?:(?:cfg|site|self)\.get\(|setting\(cfg,)\s*\\?["']([a-z_]+(?:\.[a-z_]+)+)\\?["']"""
    )
    keys = set()
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        keys |= set(pattern.findall(text))
    return keys


def test_every_key_the_code_reads_is_in_the_schema():
    keys = _code_keys()
    assert {"privacy.min_cell", "efa.rotation", "cfa.chosen_model", "synthesis.n_boot"} <= keys
    unknown = sorted(k for k in keys if k not in schema.all_keys())
    assert not unknown, f"keys read by the code but missing from settings.py: {unknown}"


def test_a_default_passed_in_code_agrees_with_the_schema():
    site = load_site("y-subbureau-sim")
    # Defaults live in the schema: the one in the call is not used when the schema has one.
    assert site.get("reliability.threshold", 0.5) == 0.70
    assert site.get("efa.n_factors", 3) == 3  # schema default is empty: the caller's applies
    assert site.get("privacy.min_cell") == 5
    with pytest.raises(KeyError, match="did you mean 'privacy.min_cell'"):
        site.get("privacy.min_cel")


def test_a_misspelt_key_is_an_error_with_did_you_mean(tmp_path):
    site_file = make_site(tmp_path, {"validation.min_respondent": 100})
    with pytest.raises(ConfigError) as error:
        load_site("tmp-site", tmp_path)
    message = str(error.value)
    assert str(site_file) in message
    assert "unknown key 'validation.min_respondent'" in message
    assert "did you mean 'validation.min_respondents'?" in message


def test_a_misspelt_top_level_key_is_an_error(tmp_path):
    make_site(tmp_path, {"groupings": ["sex"]})
    with pytest.raises(
        ConfigError, match="unknown key 'groupings' \\(did you mean 'grouping'\\?\\)"
    ):
        load_site("tmp-site", tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("privacy.min_cell", "five", "key 'privacy.min_cell' must be an integer, not 'five'"),
        ("privacy.min_cell", 0, "key 'privacy.min_cell' must be >= 1, not 0"),
        ("scoring.min_answered_fraction", 1.5, "must be >= 0 and <= 1, not 1.5"),
        # parallel analysis takes a percentile strictly inside (0, 100)
        ("efa.parallel_percentile", 100, "key 'efa.parallel_percentile' must be > 0 and < 100"),
        ("synthesis.ci", 1.0, "key 'synthesis.ci' must be > 0 and < 1, not 1.0"),
        ("eri.missing_rule", "drop", "key 'eri.missing_rule' must be one of 'complete', 'prorate'"),
        ("exclusions.duplicates", "yes", "key 'exclusions.duplicates' must be true or false"),
        ("grouping", "sex", "key 'grouping' must be a list of texts, not 'sex'"),
        ("cfa.estimator", "DWLS", "key 'cfa.estimator' must be one of 'ML', 'MLR', 'MLM', 'WLSMV'"),
        ("efa.factor_eigen", "pca", "key 'efa.factor_eigen' must be one of 'smc', 'fa', not 'pca'"),
        ("header_row", 0, "key 'header_row' must be >= 1"),
        ("id", "make", "key 'id' must be one of 'column', 'generate'"),
        ("missing_values", [-99, 1.5], "key 'missing_values[1]' must be a text or an integer"),
    ],
)
def test_a_mistyped_value_is_an_error_naming_the_key_and_the_file(tmp_path, key, value, expected):
    site_file = make_site(tmp_path, {key: value})
    with pytest.raises(ConfigError) as error:
        load_site("tmp-site", tmp_path)
    assert str(site_file) in str(error.value)
    assert expected in str(error.value)


def test_nested_keys_and_required_keys_are_checked(tmp_path):
    make_site(
        tmp_path,
        {
            "exclusions.attention_check": {"item": "ATT1", "expeted": 4},
            "synthesis.findings": [{"finding": 1, "claim_en": "x", "sources": "workload"}],
        },
    )
    with pytest.raises(ConfigError) as error:
        load_site("tmp-site", tmp_path)
    message = str(error.value)
    assert "unknown key 'exclusions.attention_check.expeted' (did you mean" in message
    assert "missing key 'exclusions.attention_check.expected'" in message
    assert "key 'synthesis.findings[0].sources' must be a list of texts" in message


def test_values_are_normalised_and_valid_settings_load(tmp_path):
    # id: column (this codebook has an id row; `generate` with an id row is a codebook error)
    make_site(tmp_path, {"eri.ratio_cutoff": 1, "missing_values": ["NA", "", -99], "id": "column"})
    site = load_site("tmp-site", tmp_path)
    assert site.get("eri.ratio_cutoff") == 1.0 and isinstance(site.get("eri.ratio_cutoff"), float)
    assert site.get("missing_values") == ["NA", "", -99]
    assert site.get("header_row") == 1


def test_a_stage_with_a_mistyped_setting_stops_before_running(tmp_path, monkeypatch, capsys):
    site_file = make_site(tmp_path, {"privacy.min_cell": "five"})
    stale = tmp_path / "tables" / "tmp-site" / "exclusion_flow.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale\n", encoding="utf-8")
    manifest = tmp_path / "reports" / "tmp-site" / ".manifest" / "validate.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps(["tables/tmp-site/exclusion_flow.csv"]), encoding="utf-8")
    monkeypatch.setenv("POLICESTRESS_ROOT", str(tmp_path))
    status = stages_main(["run", "validate", "--site", "tmp-site"])
    err = capsys.readouterr().err
    assert status != 0
    assert f"{site_file}: key 'privacy.min_cell' must be an integer, not 'five'" in err
    assert not stale.exists(), "the stage's previous outputs must not survive a config error"
    assert not (tmp_path / "reports" / "tmp-site" / "00_validate_clean.ipynb").exists()


def test_a_bad_setting_stops_the_simulated_export_with_the_message_not_a_traceback(
    tmp_path, monkeypatch, capsys
):
    """`make` redraws a simulated export through this command: a bad site.yml says which
    key of which file, exits 2 and writes nothing."""
    from policestress.simulate import main as simulate_main

    site_file = make_site(tmp_path, {"efa.parallel_percentile": 100})
    monkeypatch.setenv("POLICESTRESS_ROOT", str(tmp_path))
    out = tmp_path / "export.csv"
    assert simulate_main(["--site", "tmp-site", "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert message.startswith("not drawn: ") and str(site_file) in message
    assert "efa.parallel_percentile" in message and "Traceback" not in message
    assert not out.exists()
