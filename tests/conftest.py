import sys
from pathlib import Path

import pytest

# Make tests/rcheck.py importable as `rcheck` from every test module.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def site():
    """The default (simulated Y sub-bureau) site configuration."""
    from policestress.config import load_site

    return load_site("y-subbureau-sim")


@pytest.fixture(scope="session")
def default_site_analysis(site):
    """The default site's analysis data, built in-process exactly as stage 00 builds it
    (validation, exclusions, scoring), so cross-checks on the site's data need no chain run."""
    from policestress.cleaning import apply_exclusions, score
    from policestress.validate import validate_export

    report = validate_export(site)
    report.raise_for_errors()
    kept, _, _ = apply_exclusions(report.data, site)
    return score(kept, site)
