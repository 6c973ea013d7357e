"""A real uvicorn serving the modelwise app on a free loopback port, in a thread (for the tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(
    service: Any, token: str | None = None, group_commit: bool = True, host: str = "127.0.0.1"
) -> Iterator[str]:
    """Serve `service` as `modelwise serve` does; yields the base URL, stops the server on exit."""
    from modelwise.server import bind, create_app, uvicorn_config, uvicorn_server

    if group_commit:
        service.enable_group_commit()
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(uvicorn_config(create_app(service, token=token)), service)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
