"""The work of each stage, one module per stage: the notebooks narrate, these functions decide.

Each stage notebook (``notebooks/NN_<stage>.ipynb``) holds its parameters, narrative and
calls; the stage's module here (``policestress.stagework.<stage>``) reads the site's
settings and published inputs, calls the statistics modules (which never read files or
settings) and returns a :class:`StageWork`: the tables, figures and text files the stage
publishes, and its narrative in the site's language. :meth:`StageWork.publish` writes them
(the stage runner moves them into ``tables/``, ``figures/`` and ``data/processed/``).

A notebook parameter left at ``None`` takes the site.yml value, else the default of
:mod:`policestress.settings` (:func:`setting`): each default is stated there once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from policestress.config import SiteConfig
from policestress.tables import write_csv


def setting(cfg: SiteConfig, key: str, value: Any = None) -> Any:
    """A notebook parameter (``value``) if given, else the site's setting ``key``.

    Examples
    --------
    >>> from policestress.config import load_site
    >>> setting(load_site("y-subbureau-sim"), "efa.rotation", "varimax")
    'varimax'
    >>> setting(load_site("y-subbureau-sim"), "efa.rotation")
    'oblimin'
    """
    return cfg.get(key) if value is None else value


def as_list(value: Any) -> list | None:
    """A list parameter as given, or from the command line's ``"a,b"``; None stays None.

    Examples
    --------
    >>> as_list("configural, metric")
    ['configural', 'metric']
    >>> as_list(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


def as_number_or(value: Any, word: str) -> Any:
    """A setting that is a number or one word (``tertile``): a number given as text is a number.

    Examples
    --------
    >>> as_number_or("3.5", "tertile"), as_number_or("tertile", "tertile")
    (3.5, 'tertile')
    """
    if isinstance(value, str) and value != word:
        return float(ast.literal_eval(value))
    return value


@dataclass
class StageWork:
    """What a stage publishes, and what its notebook shows.

    ``tables`` (file name -> tidy DataFrame, written to ``tables/<site>/``), ``figures``
    (stem -> matplotlib Figure, PNG and SVG in ``figures/<site>/``), ``texts`` (file name ->
    text, in ``tables/<site>/``, e.g. lavaan model files), ``processed`` (file name ->
    DataFrame in ``data/processed/<site>/``), ``narrative`` (Markdown paragraphs in the
    site's language) and ``values`` (anything else the notebook shows).
    """

    cfg: SiteConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    processed: dict[str, pd.DataFrame] = field(default_factory=dict)
    narrative: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    # tables written with their index (display matrices)
    indexed: set[str] = field(default_factory=set)

    def publish(self) -> list[str]:
        """Write every table, figure and file; returns the names written, in order."""
        paths = self.cfg.paths
        for name, table in self.processed.items():
            write_csv(table, paths.processed(name))
        for name, table in self.tables.items():
            write_csv(table, paths.table(name), index=name in self.indexed)
        for name, text in self.texts.items():
            paths.table(name).write_text(text, encoding="utf-8")
        if self.figures:
            # matplotlib only for a stage that draws (its import is most of a second)
            from policestress.plots import save_figure

            folder = paths.output_dir("figures")
            for stem, fig in self.figures.items():
                save_figure(fig, folder, stem, simulated=self.cfg.simulated)
        return [*self.processed, *self.tables, *self.texts, *self.figures]

    def text(self):
        """The narrative, for the notebook to display."""
        from IPython.display import Markdown

        return Markdown("\n\n".join(self.narrative))


def show(table: pd.DataFrame, decimals: int = 3, rows: int | None = None) -> pd.DataFrame:
    """A table as a notebook shows it: numbers rounded, optionally its first ``rows``."""
    shown = table.round(decimals)
    return shown if rows is None else shown.head(rows)


def simulated_banner(cfg: SiteConfig):
    """The one banner of a simulated site's notebooks (nothing for a real survey)."""
    from IPython.display import Markdown

    from policestress.stagework.narrative import banner

    return Markdown(banner(cfg))


def chain(*parts: Iterable[str]) -> list[str]:
    """Paragraphs of several narrative pieces, empty ones left out."""
    return [p for part in parts for p in part if p]
