"""The command line every console script shares: ``--help`` (with the settings it reads from
the environment) and ``--version``, answered before anything connects; unknown arguments exit
with status 2 and the usage (argparse's rule)."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from pydantic_settings import BaseSettings


def distribution_version(distribution: str) -> str:
    """The installed version of ``distribution`` (``unknown`` when it is not installed)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def settings_help(settings: type[BaseSettings]) -> str:
    """One line per environment variable ``settings`` reads: name, default, meaning."""
    lines = ["environment (defaults in brackets):"]
    for name, field in settings.model_fields.items():
        default = "computed" if field.default_factory is not None else field.default
        lines.append(f"  {name.upper()} [{default}]  {field.description or ''}".rstrip())
    return "\n".join(lines)


def command_line(
    prog: str,
    *,
    description: str,
    distribution: str,
    settings: type[BaseSettings] | None = None,
) -> argparse.ArgumentParser:
    """A parser with ``--version`` and, as its epilog, the settings read from the environment."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=settings_help(settings) if settings is not None else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"{prog} {distribution_version(distribution)}"
    )
    return parser
