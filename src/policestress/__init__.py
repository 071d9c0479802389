"""policestress: psychometrics of a police occupational-stress survey.

One module per statistical topic (``reliability``, ``efa``, ``cfa``, ``eri``, ...),
DataFrames in and tidy DataFrames out; the notebooks in ``notebooks/`` narrate and call
these functions. ``paths`` and ``config`` anchor every file at the project root and read
the site configuration, so the notebooks run unchanged for any site.
"""

__version__ = "0.1.0"
