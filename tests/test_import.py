"""CSV (UTF-8 and GBK), Excel and SPSS exports of the same survey give the same analysis data."""

import pandas as pd
import pytest

from policestress.cleaning import apply_exclusions, score
from policestress.simulate import simulate_responses, to_export_frame, write_export
from policestress.validate import validate_export

SITE = "y-subbureau-sim"


def analysis_from(site, path):
    report = validate_export(site, path)
    assert report.errors == [], report.text()
    kept, _, _ = apply_exclusions(report.data, site)
    return score(kept, site)


@pytest.fixture(scope="module")
def reference(site):
    return analysis_from(site, site.raw_file)


@pytest.mark.parametrize("suffix", [".csv", ".sav", ".xlsx"])
def test_formats_give_the_same_analysis_data(site, reference, tmp_path, suffix):
    path = write_export(site, tmp_path / f"export{suffix}")
    pd.testing.assert_frame_equal(analysis_from(site, path), reference)


def test_gbk_csv(site, reference, tmp_path):
    path = tmp_path / "export_gbk.csv"
    to_export_frame(simulate_responses(site), site).to_csv(path, index=False, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    pd.testing.assert_frame_equal(analysis_from(site, path), reference)


def test_exclusion_flow_adds_up(site):
    report = validate_export(site)
    kept, flow, reason = apply_exclusions(report.data, site)
    assert flow["remaining"].iloc[0] == len(report.data)
    assert flow["excluded"].sum() == len(report.data) - len(kept)
    assert (flow["remaining"].diff().dropna() == -flow["excluded"].iloc[1:]).all()
    assert (reason != "").sum() == flow["excluded"].sum()
