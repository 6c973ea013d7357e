"""Where the ledger is: a SQLite file (a Path) or a PostgreSQL database (a `LedgerUrl`, whose str() never
shows the password). No driver is imported here."""

from __future__ import annotations

import os
from typing import Any


class LedgerUrl:
    """A `postgresql://` ledger location. `url` is what the driver gets (with any password); `str()`,
    `repr()` and every message show `redacted`: the password replaced by `***`. `password_env` names an
    environment variable holding the password (the config's `password_env`)."""

    __slots__ = ("url", "redacted", "password_env")

    def __init__(self, url: str, password_env: str | None = None):
        from urllib.parse import urlsplit, urlunsplit

        self.url = url
        self.password_env = password_env
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            auth, host = netloc.rsplit("@", 1)
            if ":" in auth:
                auth = auth.split(":", 1)[0] + ":***"
            netloc = f"{auth}@{host}"
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}={v}" if sep else k
            for k, sep, v in (q.partition("=") for q in parts.query.split("&") if q)
        )
        self.redacted = urlunsplit((parts.scheme, netloc, parts.path, query, ""))

    def password(self) -> str | None:
        """The password from `password_env` when the URL has none (libpq then also tries PGPASSWORD and
        ~/.pgpass on its own)."""
        if self.password_env:
            return os.environ.get(self.password_env) or None
        return None

    def database(self) -> str:
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(self.url).path.lstrip("/")) or "(the user's default database)"

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"LedgerUrl({self.redacted!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LedgerUrl) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)


def is_ledger_url(value: object) -> bool:
    """Whether a ledger location names a PostgreSQL database (a LedgerUrl, or a postgresql:// string)."""
    if isinstance(value, LedgerUrl):
        return True
    return isinstance(value, str) and value[:13].lower().startswith(("postgresql://", "postgres://"))


def location_of(value: str | os.PathLike[str] | LedgerUrl, password_env: str | None = None) -> Any:
    """A ledger location as given by a flag, a variable or the config: a LedgerUrl for a PostgreSQL URL
    (never taken as a file path), else the expanded path."""
    from pathlib import Path

    if isinstance(value, LedgerUrl):
        return value
    if is_ledger_url(value):
        return LedgerUrl(str(value), password_env)
    return Path(value).expanduser()
