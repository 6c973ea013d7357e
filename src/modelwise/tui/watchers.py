"""The console's watcher threads: the ledger (another process's decisions, the day turning, the spend
line moving on) and the config and registry files (an edit put in force within a second, or the reason
it cannot be), with the record of the console's own saves, which the config watcher reads again
quietly. Each polls with a plain `time.sleep`: a timed wait on a lock never returns under
libfaketime (it fakes CLOCK_MONOTONIC, which `sem_clockwait` reads unfaked), and CI runs the console's
tests under it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.core.errors import ModelwiseError, RegistryError
from modelwise.tui.messages import ConfigRefused, ConfigReloaded, LedgerChanged

if TYPE_CHECKING:
    from textual.worker import Worker

    from modelwise.tui.app import ModelwiseApp


def poll_ledger(app: ModelwiseApp, worker: Worker[None]) -> None:
    """Poll PRAGMA data_version on this thread's own connection; post a snapshot when another
    connection committed, the day turned, or `refresh_seconds` passed (the spend line moves on)."""
    from modelwise.tui.state import read_state

    svc = app.service
    ledger = svc.ledger
    last: tuple[int, str] | None = None
    read_at = 0.0
    try:
        # The worker is cancelled when the app exits, but a watcher restarted by its timer while the
        # app shuts down would never be: the app's own closing flag ends it too.
        while not (worker.is_cancelled or app._watch_stop.is_set()):
            version = ledger.data_version()
            day = svc.today().isoformat()
            now = time.monotonic()
            reread = app._reread.is_set()
            if (version, day) != last or now - read_at >= app.refresh_seconds or reread:
                app._reread.clear()
                state = read_state(svc, version)
                last, read_at = (version, day), now
                app.post_message(LedgerChanged(state))
            # A plain sleep, not `Event.wait(timeout)`: a timed wait on a lock never returns under
            # libfaketime (it fakes CLOCK_MONOTONIC, which `sem_clockwait` reads unfaked), and CI runs
            # the console's tests under it. The stop flag is checked every poll, 0.2 s by default.
            time.sleep(app.poll_interval)
    finally:
        ledger.release()


class OwnSaves:
    """The config as the console's recent saves wrote it, so the config watcher reads them again
    quietly (each save is reported on its own). A save and the watcher's judgement share a lock: a
    save is recorded before the watcher can judge what it wrote, and one made while the watcher reads
    the save before it leaves that one still known as the console's own."""

    def __init__(self, keep: int = 8) -> None:
        self._written: deque[bytes] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def save(self, write: Callable[[], Path]) -> Path:
        """Run `write` (which returns the file it wrote) and remember what the file now holds."""
        with self._lock:
            path = write()
            with suppress(OSError):
                self._written.append(path.read_bytes())
        return path

    def wrote(self, content: Any) -> bool:
        """Whether `content` (the config's bytes) is what one of the recent saves wrote."""
        with self._lock:
            return content in self._written


def file_stamps(paths: Any) -> tuple[Any, Any]:
    """What the config says (its bytes: it is small) and when the registry last changed."""
    try:
        config: Any = paths.config.read_bytes()
    except OSError as exc:
        config = type(exc).__name__
    try:
        st = paths.registry.stat()
        registry: Any = (str(paths.registry), st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError as exc:
        registry = type(exc).__name__
    return config, registry

def poll_files(app: ModelwiseApp, worker: Worker[None]) -> None:
    """Poll the config and the registry files; when one changed (and stayed so for one poll, so a
    file half-written by an editor is not read), read them again in this thread and put them in
    force, or say why not. A plain `time.sleep`, as the ledger watcher does (libfaketime)."""
    svc = app.service
    applied = seen = file_stamps(svc.paths)
    try:
        while not (worker.is_cancelled or app._watch_stop.is_set()):
            time.sleep(app.poll_interval)
            now = file_stamps(svc.paths)
            if now != applied and now == seen:
                registry_changed = now[1] != applied[1]
                applied = now
                old = svc.settings
                try:
                    done = svc.reload(registry=registry_changed)
                except ModelwiseError as exc:
                    what = "Registry" if isinstance(exc, RegistryError) else "Config"
                    error = str(exc)
                    path = str(svc.paths.registry if what == "Registry" else svc.paths.config)
                    if path not in error:
                        error = f"{path}: {error}"
                    app.post_message(ConfigRefused(f"{what} change not applied", error))
                else:
                    app._reread.set()
                    own = app._own_saves.wrote(now[0]) and not registry_changed
                    app.post_message(ConfigReloaded(done["config"], done["registry"], old, own))
            seen = now
    finally:
        svc.release_thread()
