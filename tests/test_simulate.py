"""The simulator is deterministic and its data recover the documented population model."""

import numpy as np
import pandas as pd
import pytest

from policestress.cleaning import apply_exclusions, reverse_code, score
from policestress.config import load_site
from policestress.simulate import load_population_model, simulate_responses, write_export

SITE = "y-subbureau-sim"


@pytest.fixture(scope="module")
def large(site):
    """A large simulated sample, cleaned and scored as the chain does."""
    raw = simulate_responses(site, seed=7, n=20000)
    kept, _, _ = apply_exclusions(raw, site)
    return raw, score(kept, site)


def test_same_seed_same_bytes(site, tmp_path):
    first = write_export(site, tmp_path / "a.xlsx")
    second = write_export(site, tmp_path / "b.xlsx")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("name", ["y-subbureau-sim", "w-subbureau-sim"])
def test_committed_export_is_what_the_simulator_draws(name, tmp_path):
    simulated = load_site(name)
    fresh = write_export(simulated, tmp_path / simulated.raw_file.name)
    assert fresh.read_bytes() == simulated.raw_file.read_bytes(), (
        f"{simulated.raw_file} differs from the simulator's output: "
        f"run `make simulate SITE={name}` and commit the file"
    )


def test_export_says_it_is_simulated(site):
    note = pd.read_excel(site.raw_file, sheet_name="说明")
    assert "SIMULATED" in note.iloc[0, 0] and "模拟数据" in note.iloc[0, 0]


def test_export_size_and_item_missingness(site):
    raw = simulate_responses(site)
    model = load_population_model(site)
    expected = model["n_respondents"] + model["response_quality"]["duplicates"]
    assert len(raw) == expected
    rates = raw[site.codebook.item_ids()].isna().mean()
    # 1-3 % per item by design, a little more where break-offs add to it
    assert 0.005 < rates.median() < 0.035


def test_cleaning_catches_the_planted_careless_responders(site):
    raw = simulate_responses(site)
    quality = load_population_model(site)["response_quality"]
    _, flow, _ = apply_exclusions(raw, site)
    excluded = flow.set_index("rule")["excluded"]
    assert excluded["duplicates"] == quality["duplicates"]
    assert excluded["min_duration_seconds"] <= quality["speeders"]
    planted = sum(
        quality[k] for k in ("straightliners", "random_responders", "speeders", "break_offs")
    )
    # random answers pass the attention check by chance 1 time in 5
    assert planted - 3 <= excluded.drop(["duplicates"]).sum() <= planted


def test_items_measure_their_construct(site, large):
    _, analysis = large
    items = site.codebook.items("stress_sources")
    corr = analysis[items["item_id"]].corr()
    for construct, ids in site.codebook.scales("stress_sources").items():
        others = items.loc[
            items["domain"] != items.set_index("construct").loc[construct, "domain"].iloc[0],
            "item_id",
        ]
        within = corr.loc[ids, ids].to_numpy()[np.triu_indices(len(ids), 1)].mean()
        between = corr.loc[ids, others].to_numpy().mean()
        # population: loading .75 -> latent item correlation .56 (lower after categorising);
        # across domains about .75^2 * .7^2 * .4 = .11
        assert within > 0.35, construct
        assert between < 0.2, construct


def test_reverse_keyed_items_align_after_recoding(site, large):
    _, analysis = large
    rows = site.codebook.items("stress_sources")
    for row in rows[rows["reverse"]].itertuples():
        siblings = [
            i for i in site.codebook.item_ids("stress_sources", row.construct) if i != row.item_id
        ]
        assert analysis[row.item_id].corr(analysis[siblings].mean(axis=1)) > 0.3


def test_group_differences_follow_the_model(site, large):
    _, analysis = large
    means = analysis.groupby("post_type")["score_critical_incident"].mean()
    # model: patrol +0.5, case handling +0.2, community 0, administrative -0.6 (latent units)
    assert list(means.sort_values(ascending=False).index) == [1, 2, 3, 4]
    health = analysis.groupby("service_years")["score_health"].mean()
    assert health.is_monotonic_increasing
    family = analysis.groupby("children")["score_work_family"].mean()
    assert family.is_monotonic_increasing


def test_critical_incident_risk_has_the_largest_spread(site, large):
    _, analysis = large
    spread = analysis[[f"score_{c}" for c in site.codebook.scales("stress_sources")]].std()
    assert spread.idxmax() == "score_critical_incident"


def test_outcome_ranking_follows_the_abstract(site, large):
    _, analysis = large
    constructs = list(site.codebook.scales("stress_sources"))
    frame = analysis[[f"score_{c}" for c in constructs] + ["score_perceived_stress"]].dropna()
    z = (frame - frame.mean()) / frame.std()
    x = np.column_stack([np.ones(len(z)), z.iloc[:, :-1].to_numpy()])
    beta = np.linalg.lstsq(x, z["score_perceived_stress"].to_numpy(), rcond=None)[0][1:]
    ranking = pd.Series(beta, index=constructs).sort_values(ascending=False)
    assert ranking.index[0] == "critical_incident"
    assert set(ranking.index[1:5]) >= {"regulations", "opinion_orientation"}


def test_reverse_code_uses_the_item_range():
    items = pd.DataFrame(
        {"item_id": ["x", "y"], "min": [1, 1], "max": [4, 5], "reverse": [True, False]}
    )
    out = reverse_code(pd.DataFrame({"x": [1.0, 4.0, np.nan], "y": [2, 3, 4]}), items)
    assert out["x"].tolist()[:2] == [4.0, 1.0] and np.isnan(out["x"].iloc[2])
    assert out["y"].tolist() == [2, 3, 4]
