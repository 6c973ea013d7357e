"""`modelwise registry build|validate` (filled in by the registry importer)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Add the `registry` command to the top-level subparsers."""
