"""Commands of the service area, added to the `modelwise` parser by `register`."""

from __future__ import annotations


def register(command) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add this area's commands."""
