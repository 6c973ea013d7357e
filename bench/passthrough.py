"""A minimal pass-through proxy, the floor the gateway is measured against in bench/gateway.py: FastAPI on
uvicorn with uvloop, one aiohttp session, POST /v1/chat/completions forwarded to UPSTREAM with the
upstream's key, the answer (or the stream) passed back as it arrives. No routing, no budget, no ledger.

Run: UPSTREAM=http://127.0.0.1:PORT/v1 UPSTREAM_KEY=... python bench/passthrough.py (prints its URL)"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http, which aiohttp imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import aiohttp  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response, StreamingResponse  # noqa: E402

UPSTREAM = os.environ["UPSTREAM"].rstrip("/")
HEADERS = {"Authorization": f"Bearer {os.environ['UPSTREAM_KEY']}", "Content-Type": "application/json"}
app = FastAPI()
_session: aiohttp.ClientSession | None = None


def session() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    return _session


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    body = await request.body()
    resp = await session().post(UPSTREAM + "/chat/completions", data=body, headers=HEADERS)
    ctype = resp.headers.get("Content-Type", "application/json")
    if ctype.startswith("text/event-stream"):
        async def relay():
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.release()

        return StreamingResponse(relay(), resp.status, media_type="text/event-stream")
    data = await resp.read()
    resp.release()
    return Response(data, resp.status, media_type=ctype)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"passthrough on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
