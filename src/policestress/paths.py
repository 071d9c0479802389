"""Where every file of the compendium lives, anchored at the project root.

Notebooks run with the kernel's working directory wherever papermill or JupyterLab started
it, so no code in the project uses relative paths: everything goes through
:func:`project_root` and :class:`SitePaths`.

Stage outputs are written through :class:`SitePaths` too. When the stage runner
(:mod:`policestress.stages`) executes a notebook it sets ``POLICESTRESS_STAGING``; outputs
then go to a staging folder and are moved into place only when the whole notebook has
succeeded, so a failed stage never leaves half-written tables that look fresh.

Published outputs come only from the chain: run interactively (JupyterLab), a notebook
writes to ``scratch/<site>/<kind>/`` (ignored by git) and reads what the chain published.
Set ``POLICESTRESS_PUBLISH=1`` to write into the published folders instead; the report,
the next stage and ``make verify`` then find the files changed against ``provenance.json``
and refuse, naming them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "POLICESTRESS_ROOT"
STAGING_ENV = "POLICESTRESS_STAGING"
PUBLISH_ENV = "POLICESTRESS_PUBLISH"
SCRATCH_DIR = "scratch"

# Kinds of output and the top-level folder each goes to (per site).
OUTPUT_KINDS = {
    "tables": "tables",
    "figures": "figures",
    "processed": "data/processed",
    "reports": "reports",
}


def _looks_like_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "config" / "sites").is_dir()


def project_root() -> Path:
    """Return the project root.

    Taken from ``$POLICESTRESS_ROOT`` if set, else the nearest parent of the working
    directory that holds ``pyproject.toml`` and ``config/sites``, else the checkout this
    package was installed from (editable install).
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    source_checkout = Path(__file__).resolve().parents[2]
    if _looks_like_root(source_checkout):
        return source_checkout
    raise FileNotFoundError(
        "cannot find the project root (a folder with pyproject.toml and config/sites); "
        f"set {ROOT_ENV} or start from inside the project"
    )


_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        print(message)


@dataclass(frozen=True)
class SitePaths:
    """Input and output locations of one survey site.

    Parameters
    ----------
    site : str
        Site name, the stem of ``config/sites/<site>/site.yml``.
    root : Path, optional
        Project root; default :func:`project_root`.

    Examples
    --------
    >>> p = SitePaths("y-subbureau-sim")
    >>> p.final_dir("tables").relative_to(p.base).as_posix()
    'tables/y-subbureau-sim'
    """

    site: str
    root: Path | None = None

    @property
    def base(self) -> Path:
        return self.root if self.root is not None else project_root()

    @property
    def config_dir(self) -> Path:
        return self.base / "config" / "sites" / self.site

    @property
    def raw_dir(self) -> Path:
        return self.base / "data" / "raw" / self.site

    def final_dir(self, kind: str) -> Path:
        return self.base / OUTPUT_KINDS[kind] / self.site

    def scratch_dir(self, kind: str) -> Path:
        return self.base / SCRATCH_DIR / self.site / kind

    def cache_dir(self, name: str) -> Path:
        """``build/.cache/<site>/<name>``: what a stage keeps between runs only to be faster
        (keyed by content, never an output); ``make clean`` removes it. Not under
        ``build/<site>/``, which holds the stages' staging folders only."""
        return self.base / "build" / ".cache" / self.site / name

    def output_dir(self, kind: str) -> Path:
        """Folder a stage writes ``kind`` outputs to: the staging copy under the stage
        runner, ``scratch/<site>/<kind>`` in an interactive run (unless
        ``$POLICESTRESS_PUBLISH`` is ``1``)."""
        staging = os.environ.get(STAGING_ENV)
        if staging:
            folder = Path(staging) / kind
        elif os.environ.get(PUBLISH_ENV) == "1":
            folder = self.final_dir(kind)
        else:
            folder = self.scratch_dir(kind)
            _say_once(
                f"interactive run: outputs go to {folder.parent} (not published; the chain "
                f"publishes: make all SITE={self.site})"
            )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def table(self, name: str) -> Path:
        return self.output_dir("tables") / name

    def figure(self, name: str) -> Path:
        return self.output_dir("figures") / name

    def processed(self, name: str) -> Path:
        return self.output_dir("processed") / name

    def read_processed(self, name: str) -> Path:
        """Path of a processed file made by an earlier stage (always the final copy)."""
        path = self.final_dir("processed") / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: run the cleaning stage first (make validate SITE={self.site})"
            )
        return path
