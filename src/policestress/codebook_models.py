"""The stages' models from the codebook, in lavaan syntax: the one place codebook -> model
text lives (the CFA stage's competing models, the invariance stage's default model, the
synthesis stage's structural model).

Examples
--------
>>> print(factor_syntax({"visual": ["x1", "x2", "x3"]}))
visual =~ x1 + x2 + x3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "factor_syntax",
    "codebook_models",
    "domain_score_model",
    "default_model",
    "structural_syntax",
]


def factor_syntax(factors: dict[str, list[str]], comment: str | None = None) -> str:
    """lavaan measurement syntax ``factor =~ a + b + c``, one line per factor.

    The first indicator of each factor is its marker (loading fixed at 1), as in lavaan.

    Examples
    --------
    >>> print(factor_syntax({"visual": ["x1", "x2", "x3"], "speed": ["x7", "x8"]}))
    visual =~ x1 + x2 + x3
    speed =~ x7 + x8
    """
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    lines += [f"{name} =~ {' + '.join(items)}" for name, items in factors.items()]
    return "\n".join(lines)


def codebook_models(
    scales: dict[str, list[str]],
    domains: dict[str, list[str]],
    eri_scales: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """The competing models of the stress-source instrument (and ERI), in lavaan syntax.

    Parameters
    ----------
    scales : dict
        construct -> item ids (``cfg.codebook.scales("stress_sources")``).
    domains : dict
        domain -> constructs (``cfg.codebook.domains("stress_sources")``).
    eri_scales : dict, optional
        ERI construct -> item ids (effort, reward, overcommitment).

    Returns
    -------
    dict
        ``one_factor`` (one general factor), ``domains`` (correlated domain factors measured
        directly by their items), ``first_order`` (correlated constructs), ``second_order``
        (constructs -> domains, domains correlated) and, given ``eri_scales``, ``eri``.

    Examples
    --------
    >>> m = codebook_models({"a": ["a1", "a2"], "b": ["b1", "b2"]}, {"d": ["a", "b"]})
    >>> print(m["second_order"])
    # second-order: constructs -> domains
    a =~ a1 + a2
    b =~ b1 + b2
    d =~ a + b
    """
    all_items = [item for items in scales.values() for item in items]
    domain_items = {d: [i for c in cs for i in scales[c]] for d, cs in domains.items()}
    models = {
        "one_factor": factor_syntax({"general": all_items}, "one general factor"),
        "domains": factor_syntax(domain_items, "correlated domain factors"),
        "first_order": factor_syntax(scales, "correlated first-order constructs"),
        "second_order": factor_syntax({**scales, **domains}, "second-order: constructs -> domains"),
    }
    if eri_scales:
        models["eri"] = factor_syntax(eri_scales, "ERI measurement model")
    return models


def domain_score_model(domains: Mapping[str, Sequence[str]], prefix: str = "score_") -> dict:
    """Factor model of domains measured by their construct scores: ``{domain: [score columns]}``.

    The default model of the invariance stage: each stress-source domain is a factor whose
    indicators are the scale scores (``score_<construct>`` of analysis.csv) of its constructs;
    the first construct is the marker. Domains with fewer than two constructs are left out
    (a factor needs two indicators to be identified together with the others).

    Examples
    --------
    >>> domain_score_model({"organizational": ["workflow", "appraisal"], "x": ["only"]})
    {'organizational': ['score_workflow', 'score_appraisal']}
    """
    return {d: [f"{prefix}{c}" for c in cons] for d, cons in domains.items() if len(cons) >= 2}


def default_model(codebook, instrument: str = "stress_sources") -> dict:
    """The invariance stage's default model for a site's codebook.

    When every domain has at least three constructs, the domains measured by their construct
    scores (:func:`domain_score_model`): few indicators, fits in seconds. Otherwise a factor
    with two indicators would rest on its correlations with the other factors alone, which
    small groups cannot carry (empirical under-identification), so each construct becomes a
    factor measured by its items.

    Examples
    --------
    >>> from policestress.config import load_site
    >>> sorted(default_model(load_site("y-subbureau-sim").codebook))[:2]
    ['occupational', 'organizational']
    >>> sorted(default_model(load_site("w-subbureau-sim").codebook))[:2]
    ['accountability', 'danger']
    """
    domains = codebook.factor_domains(instrument)
    if domains and all(len(constructs) >= 3 for constructs in domains.values()):
        return domain_score_model(domains)
    return codebook.factor_scales(instrument)


def structural_syntax(
    codebook,
    instrument: str = "stress_sources",
    outcome_instrument: str = "outcome",
    outcome_construct: str = "perceived_stress",
    outcome_name: str = "stress",
) -> str:
    """lavaan syntax of the structural model: domains (by their construct scores) -> stress.

    Each domain of ``instrument`` is a latent variable measured by the ``score_<construct>``
    columns of its constructs (scale scores as parcels keep the model small); the outcome is a
    latent variable measured by the items of ``outcome_construct`` and regressed on every domain.

    Examples
    --------
    >>> from policestress.config import load_site
    >>> print(structural_syntax(load_site("y-subbureau-sim").codebook).splitlines()[-1])
    stress ~ occupational + organizational + social_opinion + personal_family
    """
    domains = codebook.domains(instrument)
    lines = [
        f"{domain} =~ " + " + ".join(f"score_{c}" for c in constructs)
        for domain, constructs in domains.items()
    ]
    items = codebook.scales(outcome_instrument)[outcome_construct]
    lines.append(f"{outcome_name} =~ " + " + ".join(items))
    lines.append(f"{outcome_name} ~ " + " + ".join(domains))
    return "\n".join(lines)
