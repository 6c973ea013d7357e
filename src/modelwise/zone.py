"""The machine's time zone as an IANA name, which a new ledger records as its budget day's zone.

A ledger's zone is fixed when it is created (docs/design.md, "The budget day"): every process that opens
it takes the day from that zone, whatever its own `TZ`, so a shell variable cannot start a second day."""

from __future__ import annotations

import os
import time
from datetime import UTC, tzinfo
from functools import lru_cache
from pathlib import Path

# Names of UTC itself, which has no transitions: the stdlib's fixed zone serves them without importing
# zoneinfo (~2 ms of a cold `route` where the machine or the ledger keeps UTC, as servers and CI do).
_UTC_NAMES = frozenset({"UTC", "Etc/UTC"})


def _valid(name: str) -> bool:
    if name in _UTC_NAMES:
        return True
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def machine_zone_name() -> str:
    """This process's local zone as an IANA key: `TZ` when it names one, else where /etc/localtime
    points, else /etc/timezone, else a fixed offset (`Etc/GMT-5`) when the offset is a whole hour, else
    UTC. Never raises."""
    tz = os.environ.get("TZ")
    if tz is not None:
        name = tz[1:] if tz.startswith(":") else tz
        if name == "":
            return "UTC"
        if name.startswith("/") and "zoneinfo/" in name:
            name = name.split("zoneinfo/", 1)[1]
        if _valid(name):
            return name
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            if _valid(name):
                return name
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name and _valid(name):
            return name
    except OSError:
        pass
    offset = -time.timezone  # seconds east of UTC, standard time
    if offset == 0:
        return "UTC"
    if offset % 3600 == 0 and -12 <= offset // 3600 <= 14:
        hours = offset // 3600
        return f"Etc/GMT{-hours:+d}"  # the Etc zones' signs are inverted by POSIX convention
    return "UTC"


@lru_cache(maxsize=32)
def zone(name: str) -> tzinfo:
    """The zone named `name` (an IANA key); raises as ZoneInfo does for an unknown one."""
    if name in _UTC_NAMES:
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
