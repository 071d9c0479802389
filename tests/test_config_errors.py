"""Configuration faults are ConfigErrors naming the setting and the file, raised when the site
is loaded (not a KeyError or FileNotFoundError in some later stage)."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from policestress.cleaning import RULES
from policestress.config import ConfigError, load_site
from policestress.settings import Exclusions, all_keys

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "config" / "sites" / "w-subbureau-sim"


def copy_site(tmp_path: Path, change) -> Path:
    target = tmp_path / "config" / "sites" / "tmp-site"
    shutil.copytree(SOURCE, target)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n", encoding="utf-8")
    settings = yaml.safe_load((target / "site.yml").read_text(encoding="utf-8"))
    change(settings, target)
    (target / "site.yml").write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    return target / "site.yml"


def test_a_simulated_site_without_its_population_model_fails_at_load(tmp_path):
    site_file = copy_site(tmp_path, lambda s, t: (t / "population_model.yml").unlink())
    with pytest.raises(ConfigError) as error:
        load_site("tmp-site", tmp_path)
    assert str(error.value).startswith(
        f"{site_file}: population_model names 'population_model.yml'"
    )
    assert "a simulated site needs its population model" in str(error.value)


@pytest.mark.parametrize("setting", ["codebook", "constructs"])
def test_a_missing_codebook_or_constructs_file_names_the_setting(tmp_path, setting):
    def change(settings, target):
        settings[setting] = ["codebook/nope.csv"] if setting == "codebook" else "nope.csv"

    site_file = copy_site(tmp_path, change)
    with pytest.raises(ConfigError, match=f"{site_file}: {setting} names '.*nope.csv'"):
        load_site("tmp-site", tmp_path)


def test_the_cleaning_rules_are_the_exclusion_keys_of_the_schema():
    """The schema refuses an unknown exclusion rule (naming it), so cleaning has no check
    of its own: both must know the same rules."""
    keys = {
        k.split(".")[1] for k in all_keys() if k.startswith("exclusions.") and k.count(".") == 1
    }
    assert set(RULES) == keys == {f.name for f in Exclusions.__dataclass_fields__.values()}


def test_one_rule_names_the_outcome_score_of_eri_and_synthesis(tmp_path):
    """eri.stress_outcome and synthesis.outcome default to the codebook's outcome score, and
    to none when the codebook has no outcome instrument (no site lacking it gets a column
    name it does not have)."""
    from policestress.stagework.eri import stress_outcome

    y = load_site("y-subbureau-sim")
    assert y.codebook.outcome_score() == "score_perceived_stress" == stress_outcome(y)

    def drop_outcome(settings, target):
        settings["codebook"] = [c for c in settings["codebook"] if "outcome" not in c]

    copy_site(tmp_path, drop_outcome)
    site = load_site("tmp-site", tmp_path)
    assert site.codebook.outcome_score() is None and stress_outcome(site) is None


def test_screenshots_and_pdfs_launch_chromium_the_same_way(monkeypatch, tmp_path):
    from policestress import report

    calls = []

    class FakeChromium:
        def __init__(self, args, **kw):
            calls.append(args)

        def wait(self, timeout=None):
            return 0

        def kill(self):
            pass

    monkeypatch.setattr(report, "chromium_binary", lambda: "chromium")
    monkeypatch.setattr(report.subprocess, "Popen", FakeChromium)
    page = tmp_path / "r.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    report.screenshot(page, tmp_path / "s.png")
    report.PdfPrint(tmp_path / "r.pdf").kill()  # launched, then not wanted
    assert len(calls) == 2
    for args in calls:
        # the PDF's Chromium is started through a Python that hands it the DevTools pipes
        start = args.index("chromium") + 1
        assert args[start : start + len(report.CHROMIUM_FLAGS)] == list(report.CHROMIUM_FLAGS)
    assert {
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    } <= set(report.CHROMIUM_FLAGS)


def _fake_chromium(monkeypatch, tmp_path, script: str) -> Path:
    """A 'chromium' that runs the shell ``script``; returns a page to open."""
    from policestress import report

    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(report, "chromium_binary", lambda: str(fake))
    page = tmp_path / "r.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    return page


def test_a_failed_chromium_says_what_it_printed(monkeypatch, tmp_path):
    from policestress import report

    page = _fake_chromium(monkeypatch, tmp_path, "echo 'cannot open display' >&2; exit 3")
    printing = report.PdfPrint(tmp_path / "r.pdf")
    printing.start(page)  # in the background
    with pytest.raises(subprocess.CalledProcessError) as failed:
        printing.wait()
    assert failed.value.returncode == 3 and b"cannot open display" in failed.value.output


def test_a_print_no_longer_wanted_is_stopped(monkeypatch, tmp_path):
    from policestress import report

    page = _fake_chromium(monkeypatch, tmp_path, "exec sleep 60")
    printing = report.PdfPrint(tmp_path / "r.pdf")
    printing.start(page)
    start = time.monotonic()
    printing.kill()
    with pytest.raises(subprocess.CalledProcessError) as killed:
        printing.wait()
    assert killed.value.returncode == -signal.SIGKILL and time.monotonic() - start < 30
