"""The pip lock and environment.yml pin the same versions; the venv is consistent."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def conda_pip_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for spec in pip_section:
        if "==" in spec:
            name, version = spec.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_lock_and_environment_yml_agree():
    assert lock_pins() == conda_pip_pins()


def test_environment_yml_python_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert '">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()


def test_lock_holds_the_required_pins():
    pins = lock_pins()
    assert pins["semopy"] == "2.3.11"
    assert int(pins["pandas"].split(".")[0]) < 3
    for name in ("pingouin", "papermill", "jupyterlab", "ipykernel", "seaborn", "matplotlib"):
        assert re.fullmatch(r"\d+(\.\d+)*", pins[name]), name


def test_installed_versions_are_the_locked_ones():
    from importlib.metadata import version

    pins = lock_pins()
    for name in (
        "semopy",
        "pandas",
        "numpy",
        "scikit-learn",
        "pingouin",
        "papermill",
    ):
        assert version(name) == pins[name], name


def test_pip_check_is_clean():
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
