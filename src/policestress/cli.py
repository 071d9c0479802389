"""The ``policestress`` command (the package's entry point).

``policestress run efa --site y-subbureau-sim [-p n_factors=4]``
    run one stage notebook through the stage runner (as ``make efa`` does, without make's
    dependencies: the stages it reads must have run);
``policestress sites``
    list the site configurations, with whether each is simulated;
``policestress stages``
    list the stages, their notebooks and the stages each reads;
``policestress verify --site y-subbureau-sim``
    ``make verify``: check the outputs against provenance, rerun in a scratch copy, compare.
"""

from __future__ import annotations

import argparse
import sys

from policestress.paths import project_root


def sites() -> list[tuple[str, bool]]:
    """``(site, simulated)`` for every folder of ``config/sites`` holding a site.yml.

    Examples
    --------
    >>> ("y-subbureau-sim", True) in sites()
    True
    """
    import yaml

    found = []
    for site_file in sorted((project_root() / "config" / "sites").glob("*/site.yml")):
        settings = yaml.safe_load(site_file.read_text(encoding="utf-8")) or {}
        found.append((site_file.parent.name, bool(settings.get("simulated", False))))
    return found


def main(argv: list[str] | None = None) -> int:
    from policestress import stages, verify

    parser = argparse.ArgumentParser(prog="policestress", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    stages.add_run_arguments(sub.add_parser("run", help="run one stage notebook"))
    sub.add_parser("sites", help="list the site configurations")
    sub.add_parser("stages", help="list the stages in chain order")
    check = sub.add_parser("verify", help="check outputs against provenance and a rerun")
    check.add_argument("--site", required=True)
    check.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)
    if args.command == "run":
        return stages.run_command(args)
    if args.command == "sites":
        for name, simulated in sites():
            print(f"{name}\t{'simulated' if simulated else 'real data'}")
        return 0
    if args.command == "stages":
        return stages.main(["list"])
    return verify.main(["--site", args.site, *(["--keep"] if args.keep else [])])


if __name__ == "__main__":
    sys.exit(main())
