"""Stage 03: the site's measurement models, fitted, with fit, estimates, validity and diagrams."""

from __future__ import annotations

import pandas as pd

from policestress import cfa, interpret
from policestress.codebook_models import codebook_models
from policestress.config import ConfigError, SiteConfig
from policestress.plots import cfa as cfa_plots
from policestress.plots.text import MODEL_LABELS, model_label
from policestress.stagework import StageWork, as_list, setting
from policestress.stagework.narrative import introduction, say

FIT_SHOWN = [
    "model",
    "estimator",
    "missing",
    "n",
    "chi2",
    "df",
    "p",
    "chi2_df",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_low",
    "rmsea_ci_high",
    "rmsea_pclose",
    "srmr",
    "gfi",
    "agfi",
    "nfi",
    "aic",
    "bic",
    "chi2_sb",
    "p_sb",
    "converged",
]
ROBUST_SHOWN = ("chi2_scaled", "p_scaled", "cfi_robust", "rmsea_robust")
MISSING_RULES = {
    "listwise": {"en": "complete cases on the model's items", "zh": "模型条目的完整个案"},
    "ml": {"en": "FIML, every respondent", "zh": "全信息最大似然（FIML），全部受访者"},
    "pairwise": {"en": "pairwise (WLSMV / ULSMV)", "zh": "成对删除（WLSMV / ULSMV）"},
}


def site_models(cfg: SiteConfig, include: list[str] | None = None) -> dict[str, str]:
    """Models of a site: the codebook models, overridden or extended by site.yml files.

    site.yml keys (all optional)::

        cfa:
          models: {second_order: cfa/second_order.lavaan, my_model: cfa/my.lavaan}
          include: [one_factor, domains, first_order, second_order, eri]

    ``cfa.models`` maps a model name to a lavaan model file relative to the site folder: it
    replaces the codebook model of that name or adds a new one. ``include`` (default
    ``cfa.include``; None: all) selects and orders the models. The ERI model is built only
    when the codebook has the ``eri`` instrument.

    Raises
    ------
    ConfigError
        A model file that does not exist, or an included model that is not defined, named
        with the setting and site.yml.
    """
    book = cfg.codebook
    site_file = cfg.paths.config_dir / "site.yml"
    # one-item constructs and one-construct domains get no factor (Codebook.structure_notes)
    eri = book.factor_scales("eri") if book.has_instrument("eri") else None
    models = codebook_models(
        book.factor_scales("stress_sources"), book.factor_domains("stress_sources"), eri
    )
    for name, file in (cfg.get("cfa.models") or {}).items():
        path = cfg.paths.config_dir / file
        if not path.is_file():
            raise ConfigError(f"{site_file}: cfa.models.{name} names {path}, which does not exist")
        models[name] = path.read_text(encoding="utf-8").strip()
    include = setting(cfg, "cfa.include", include)
    if include:
        unknown = [m for m in include if m not in models]
        if unknown:
            raise ConfigError(
                f"{site_file}: cfa.include names models {unknown} that are not defined; "
                f"defined: {list(models)}"
            )
        models = {m: models[m] for m in include}
    return models


def run(
    cfg: SiteConfig,
    models_include: list[str] | str | None = None,
    chosen_model: str | None = None,
    top_modindices: int | None = None,
    allow_negative_variances: bool | None = None,
    estimator: str | None = None,
    missing: str | None = None,
) -> StageWork:
    """Every table and figure of the CFA stage (parameters None: site.yml)."""
    site_file = cfg.paths.config_dir / "site.yml"
    chosen_model = setting(cfg, "cfa.chosen_model", chosen_model)
    top = int(setting(cfg, "cfa.top_modindices", top_modindices))
    negative = bool(setting(cfg, "cfa.allow_negative_variances", allow_negative_variances))
    estimator = setting(cfg, "cfa.estimator", estimator)
    missing = setting(cfg, "cfa.missing", missing)
    lang = cfg.language
    data = pd.read_csv(cfg.paths.read_processed("analysis.csv"))
    models = site_models(cfg, as_list(models_include))
    if chosen_model not in models:
        raise ConfigError(
            f"{site_file}: cfa.chosen_model {chosen_model!r} is not among the fitted models "
            f"{list(models)}"
        )
    work = StageWork(cfg, narrative=[introduction(cfg, "cfa", n=len(data))])
    work.texts = {f"cfa_{name}.lavaan": syntax + "\n" for name, syntax in models.items()}
    loadings = {
        name: int(cfa.parse_syntax(syntax).query("op == '=~'")["rhs"].isin(data.columns).sum())
        for name, syntax in models.items()
    }
    fits = cfa.fit_models(
        data, models, allow_negative_variances=negative, estimator=estimator, missing=missing
    )
    # the fit table states the rule each fit used (an ordinal fit reads ml as pairwise)
    rules = sorted({fit.missing for fit in fits.values() if fit.fitted} or {missing})
    work.narrative.append(
        say(lang, "估计方法", "estimator")
        + f" {estimator}; "
        + say(lang, "缺失处理：", "missing answers: ")
        + "; ".join(MISSING_RULES.get(r, {}).get(lang, r) for r in rules)
    )
    fit_table = cfa.fit_table(fits)
    estimates = pd.concat(
        [cfa.parameter_estimates(fit) for fit in fits.values()], ignore_index=True
    )
    estimates = cfa.with_estimation(estimates, fits)
    heywood = pd.concat(
        [cfa.heywood_cases(cfa.parameter_estimates(fit), fit) for fit in fits.values()],
        ignore_index=True,
    )
    validity = pd.concat(
        [cfa.validity_table(fit) for fit in fits.values() if fit.fitted], ignore_index=True
    )
    validity = cfa.with_estimation(validity, fits)
    htmt = cfa.htmt(data, models[chosen_model])
    htmt.insert(0, "model", chosen_model)
    modindices = cfa.modification_indices(fits[chosen_model], top=top)
    work.tables = {
        "cfa_fit.csv": fit_table,
        "cfa_estimates.csv": estimates,
        "cfa_heywood.csv": cfa.with_estimation(heywood, fits),
        "cfa_validity.csv": validity,
        "cfa_fornell_larcker.csv": cfa.with_estimation(
            cfa.fornell_larcker(fits[chosen_model]), fits
        ),
        "cfa_htmt.csv": htmt,
        "cfa_modindices.csv": cfa.with_estimation(modindices, fits),
    }
    work.figures = {
        "cfa_fit_comparison": cfa_plots.fit_comparison(fit_table, language=lang),
        **_path_diagrams(cfg, fits, chosen_model),
    }
    chosen = estimates[estimates["model"] == chosen_model]
    work.narrative.append(interpret.cfa_text(fit_table, chosen_model, MODEL_LABELS[lang], lang))
    work.values = {
        "models": models,
        "chosen_model": chosen_model,
        "loadings": loadings,
        "fits": {
            name: f"n = {fit.n} ({fit.n_dropped} rows left out); {fit.message}"
            for name, fit in fits.items()
        },
        "fit_shown": fit_table[FIT_SHOWN + [c for c in ROBUST_SHOWN if c in fit_table]],
        "chosen_loadings": chosen[chosen["op"] == "=~"],
        "validity": validity[validity["model"].isin([chosen_model, "eri"])],
    }
    return work


def _path_diagrams(cfg: SiteConfig, fits: dict, chosen_model: str) -> dict:
    """Standardized path diagrams of the chosen model (and of the ERI model); a model too
    large for one page is drawn once per domain (its constructs and their items), plus its
    latent structure."""
    lang, book = cfg.language, cfg.codebook
    labels = {name: book.label(name, lang) for fit in fits.values() for name in fit.latent}
    domains = book.domains("stress_sources")
    labels.update({d: book.label(d, lang) for d in domains})
    parts = {d: [d, *constructs] for d, constructs in domains.items()}
    names = [chosen_model] + (["eri"] if "eri" in fits and chosen_model != "eri" else [])
    figures = {}
    for name in [n for n in names if fits[n].fitted]:  # a failed model: see cfa_fit.csv
        diagrams = cfa_plots.path_diagrams(
            cfa.parameter_estimates(fits[name]),
            model_label(name, lang),
            parts,
            labels,
            language=lang,
        )
        for part, fig in diagrams.items():
            figures[f"cfa_path_{name}_{part}" if part else f"cfa_path_{name}"] = fig
    return figures
