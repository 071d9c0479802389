import sys
from pathlib import Path

import pytest

# Make tests/rcheck.py importable as `rcheck` from every test module.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def default_site_analysis():
    """The default site's analysis data, built in-process exactly as stage 00 builds it
    (validation, exclusions, scoring), so cross-checks on the site's data need no chain run."""
    from policestress.cleaning import apply_exclusions, score
    from policestress.config import load_site
    from policestress.validate import validate_export

    site = load_site("y-subbureau-sim")
    report = validate_export(site)
    report.raise_for_errors()
    kept, _, _ = apply_exclusions(report.data, site)
    return score(kept, site)
