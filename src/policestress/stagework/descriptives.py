"""Stage 01: sample profile, item statistics, reliability, scores, group comparisons, figures."""

from __future__ import annotations

import pandas as pd

from policestress import descriptives as desc
from policestress import groups, interpret
from policestress.config import SiteConfig
from policestress.plots import descriptives as dplots
from policestress.privacy import suppress_small_cells, suppressed_codes
from policestress.reliability import reliability_table
from policestress.stagework import StageWork, setting
from policestress.stagework.narrative import introduction

SCORED_INSTRUMENTS = ("stress_sources", "outcome", "relief", "eri")
ERI_SCORES = ("eri_effort", "eri_reward", "eri_oc", "eri_ratio")
FIGURE_TITLES = {
    "distributions": {"zh": "得分分布", "en": "Score distributions"},
    "corr_constructs": {"zh": "构念得分相关", "en": "Correlations of construct scores"},
    "corr_domains": {"zh": "维度得分相关", "en": "Correlations of domain scores"},
}
SIMULATED_TITLE = {"zh": " (模拟数据)", "en": " (SIMULATED DATA)"}
SPECIAL_LABELS = {
    "eri_ratio": {"en": "ER ratio", "zh": "付出-回报比"},
    "eri_oc": {"en": "overcommitment", "zh": "过度投入"},
}


def score_label(cfg: SiteConfig, name: str) -> str:
    """Label of a construct, domain or score column in the site's language."""
    base = SPECIAL_LABELS.get(name, {}).get(cfg.language, name)
    for prefix in ("score_", "eri_"):
        base = base.removeprefix(prefix)
    return cfg.codebook.label(base, cfg.language)


class Scales:
    """The site's scales from the codebook: constructs per instrument, stress-source domains
    (all items of their constructs), ERI reward subscales, and their score columns."""

    def __init__(self, cfg: SiteConfig, columns: pd.Index):
        cb = cfg.codebook
        self.instruments = [i for i in SCORED_INSTRUMENTS if cb.has_instrument(i)]
        self.constructs = {i: cb.scales(i) for i in self.instruments}
        self.domains = cb.domains("stress_sources")
        sources = self.constructs["stress_sources"]
        self.domain_items = {
            d: [item for c in cs for item in sources[c]] for d, cs in self.domains.items()
        }
        self.eri_subscales = {}
        if "eri" in self.instruments:
            rows = cb.items("eri")
            rows = rows[rows["subscale"] != ""]
            self.eri_subscales = {
                s: g["item_id"].tolist() for s, g in rows.groupby("subscale", sort=False)
            }
        self.construct_cols = [
            f"score_{c}"
            for i in ("stress_sources", "outcome", "relief")
            if i in self.instruments
            for c in self.constructs[i]
        ]
        self.domain_cols = [f"score_{d}" for d in self.domains]
        self.eri_cols = [c for c in ERI_SCORES if c in columns]
        self.score_cols = [
            c for c in self.construct_cols + self.domain_cols + self.eri_cols if c in columns
        ]
        self.outcome_cols = [f"score_{c}" for c in self.constructs.get("outcome", {})]
        self.source_cols = [f"score_{c}" for c in sources]
        self.group_scores = [
            c for c in self.source_cols + self.domain_cols + self.outcome_cols if c in columns
        ]

    def reliability_scales(self) -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
        """Every scale whose reliability is estimated, and its (level, instrument)."""
        scales, levels = {}, {}
        for instrument in self.instruments:
            for c, items in self.constructs[instrument].items():
                scales[c], levels[c] = items, ("construct", instrument)
        for d, items in self.domain_items.items():
            scales[d], levels[d] = items, ("domain", "stress_sources")
        for s, items in self.eri_subscales.items():
            scales[s], levels[s] = items, ("subscale", "eri")
        return scales, levels


def run(
    cfg: SiteConfig,
    min_cell: int | None = None,
    reliability_threshold: float | None = None,
    skew_type: int | None = None,
    correction: str | None = None,
    correlation_method: str | None = None,
) -> StageWork:
    """Every table and figure of the descriptives stage (parameters None: site.yml)."""
    min_cell = int(setting(cfg, "privacy.min_cell", min_cell))
    threshold = float(setting(cfg, "reliability.threshold", reliability_threshold))
    skew_type = int(setting(cfg, "descriptives.skew_type", skew_type))
    correction = setting(cfg, "groups.correction", correction)
    method = setting(cfg, "descriptives.correlation_method", correlation_method)
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    work = StageWork(cfg, narrative=[introduction(cfg, "descriptives", n=len(data))])
    work.values["settings"] = {
        "min_cell": min_cell,
        "reliability_threshold": threshold,
        "skew_type": skew_type,
        "correction": correction,
        "correlation_method": method,
    }
    scales = Scales(cfg, data.columns)
    _profile(cfg, data, min_cell, work)
    # one rule across tables: the groups the sample profile hid are hidden in the group tables
    hidden = suppressed_codes(work.tables["sample_profile.csv"])
    _items(cfg, data, scales, skew_type, work)
    _reliability(cfg, data, scales, threshold, work)
    labels = {c: score_label(cfg, c) for c in scales.score_cols}
    _scores(data, scales, labels, skew_type, method, work)
    _groups(cfg, data, scales, labels, min_cell, correction, hidden, work)
    _figures(cfg, data, scales, labels, work)
    work.narrative.append(interpret.reliability_text(work.tables["reliability.csv"], cfg.language))
    return work


def _profile(cfg: SiteConfig, data: pd.DataFrame, min_cell: int, work: StageWork) -> None:
    cb, lang = cfg.codebook, cfg.language
    # numeric variables with bins are profiled by their bands too (age_band from age)
    demographics = [v for v in [*cb.categorical(), *cb.bands()] if v in data.columns]
    profile = desc.sample_profile(
        data,
        demographics,
        value_labels={v: cb.value_labels(v, lang) for v in demographics},
        variable_labels={v: cb.label(v, lang) for v in demographics},
        missing_label="缺失" if lang == "zh" else "Missing",
    )
    work.tables["sample_profile.csv"] = suppress_small_cells(profile, min_cell)
    numeric = [v for v in cb.numeric() if v in data.columns]
    if numeric:
        labels = {v: cb.label(v, lang) for v in numeric}
        work.tables["sample_profile_numeric.csv"] = desc.numeric_profile(
            data, numeric, labels, min_cell=min_cell
        )


def _items(
    cfg: SiteConfig, data: pd.DataFrame, scales: Scales, skew_type: int, work: StageWork
) -> None:
    items = cfg.codebook.items()
    item_labels = dict(zip(items["item_id"], items[f"label_{cfg.language}"], strict=True))
    bounds = {r.item_id: (int(r.min), int(r.max)) for r in items.itertuples()}
    item_scales = {c: v for i in scales.instruments for c, v in scales.constructs[i].items()}
    stats = desc.item_statistics(
        data, item_scales, bounds=bounds, item_labels=item_labels, skew_type=skew_type
    )
    instrument = dict(zip(items["item_id"], items["instrument"], strict=True))
    stats.insert(0, "instrument", stats["item"].map(instrument))
    reverse_keyed = set(items.loc[items["reverse"], "item_id"])
    stats.insert(4, "reverse_keyed", stats["item"].isin(reverse_keyed))
    work.tables["item_statistics.csv"] = stats
    work.values["weak_items"] = stats.loc[stats["r_drop"] < 0.30, "item"].tolist()
    # Figures mark reverse-keyed items "(R)": they are shown recoded, against their wording.
    work.values["plot_labels"] = {
        i: f"(R) {t}" if i in reverse_keyed else t for i, t in item_labels.items()
    }


def _reliability(
    cfg: SiteConfig, data: pd.DataFrame, scales: Scales, threshold: float, work: StageWork
) -> None:
    scale_items, levels = scales.reliability_scales()
    # reliability.ordinal: ordinal alpha and omega beside the ML ones
    ordinal = bool(setting(cfg, "reliability.ordinal"))
    table = reliability_table(data, scale_items, threshold=threshold, ordinal=ordinal)
    table.insert(1, "label", [score_label(cfg, s) for s in table["scale"]])
    table.insert(2, "level", [levels[s][0] for s in table["scale"]])
    table.insert(3, "instrument", [levels[s][1] for s in table["scale"]])
    work.tables["reliability.csv"] = table


def _scores(
    data: pd.DataFrame,
    scales: Scales,
    labels: dict[str, str],
    skew_type: int,
    method: str,
    work: StageWork,
) -> None:
    cols = scales.score_cols
    work.tables["score_descriptives.csv"] = desc.score_descriptives(
        data, cols, labels, skew_type=skew_type
    )
    correlations = desc.score_correlations(data, cols, method=method)
    work.tables["score_correlations.csv"] = correlations
    work.tables["score_correlations_matrix.csv"] = desc.correlation_display(
        correlations, cols, labels
    )
    work.indexed.add("score_correlations_matrix.csv")


def _groups(
    cfg: SiteConfig,
    data: pd.DataFrame,
    scales: Scales,
    labels: dict[str, str],
    min_cell: int,
    correction: str,
    hidden: dict[str, set[str]],
    work: StageWork,
) -> None:
    cb, lang = cfg.codebook, cfg.language
    grouping = [g for g in cfg.grouping if g in data.columns]
    rule = {
        "min_group_size": min_cell,
        "value_labels": {g: cb.value_labels(g, lang) for g in grouping},
        "complementary": True,
        "suppressed": hidden,
    }
    scores = scales.group_scores
    comparisons, posthoc, means = groups.group_tables(
        data, scores, grouping, correction=correction, **rule
    )
    comparisons.insert(1, "score_label", comparisons["score"].map(labels))
    comparisons.insert(
        3, "grouping_label", comparisons["grouping"].map(lambda g: cb.label(g, lang))
    )
    posthoc.insert(1, "score_label", posthoc["score"].map(labels))
    means.insert(1, "score_label", means["score"].map(labels))
    work.tables["group_comparisons.csv"] = comparisons
    work.tables["posthoc.csv"] = posthoc
    work.tables["group_means.csv"] = means
    work.values["grouping"] = grouping
    work.values["significant"] = comparisons[comparisons["p_adj"] < 0.05]


def _figures(
    cfg: SiteConfig, data: pd.DataFrame, scales: Scales, labels: dict[str, str], work: StageWork
) -> None:
    cb, lang = cfg.codebook, cfg.language
    sim = SIMULATED_TITLE[lang] if cfg.simulated else ""
    sources = scales.constructs["stress_sources"]
    likert_sets = {
        f"likert_{d}": (d, {c: sources[c] for c in cs}) for d, cs in scales.domains.items()
    }
    for instrument in scales.instruments:
        if instrument != "stress_sources":
            likert_sets[f"likert_{instrument}"] = (instrument, scales.constructs[instrument])
    for stem, (name, sets) in likert_sets.items():
        first_item = next(iter(sets.values()))[0]
        work.figures[stem] = dplots.likert_diverging(
            data,
            sets,
            cb.value_labels(first_item, lang),
            item_labels=work.values["plot_labels"],
            scale_labels={c: score_label(cfg, c) for c in sets},
            title=score_label(cfg, name) + sim,
            language=lang,
        )
    titles = {key: text[lang] + sim for key, text in FIGURE_TITLES.items()}
    construct_cols, domain_cols = scales.construct_cols, scales.domain_cols
    outcome_cols, eri_cols = scales.outcome_cols, scales.eri_cols
    work.figures["score_distributions"] = dplots.score_distributions(
        data, construct_cols + domain_cols, labels, title=titles["distributions"], language=lang
    )
    correlations = work.tables["score_correlations.csv"]
    first = construct_cols + eri_cols
    work.figures["correlation_heatmap_constructs"] = dplots.correlation_heatmap(
        correlations[correlations["var1"].isin(first) & correlations["var2"].isin(first)],
        [c for c in scales.score_cols if c in first],
        labels,
        title=titles["corr_constructs"],
        language=lang,
    )
    second = domain_cols + outcome_cols + eri_cols
    work.figures["correlation_heatmap_domains"] = dplots.correlation_heatmap(
        correlations[correlations["var1"].isin(second) & correlations["var2"].isin(second)],
        second,
        labels,
        title=titles["corr_domains"],
        language=lang,
    )
    means, comparisons = work.tables["group_means.csv"], work.tables["group_comparisons.csv"]
    for g in work.values["grouping"]:
        for part, cols in (
            ("domains", domain_cols + outcome_cols),
            ("constructs", scales.source_cols),
        ):
            work.figures[f"group_means_{g}_{part}"] = dplots.group_differences(
                means,
                g,
                cols,
                labels,
                comparisons,
                title=cb.label(g, lang) + sim,
                language=lang,
            )
