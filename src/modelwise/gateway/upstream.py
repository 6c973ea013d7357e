"""The client to the providers: one aiohttp session per process and event loop (pooled keep-alive
connections), with connect and read timeouts; the provider's base URL and key from its definition. It
keeps no cookies: a provider's Set-Cookie (Cloudflare's `__cf_bm`, a session) would otherwise go back
with every later call, whichever client made it."""

from __future__ import annotations

import asyncio
import os
from typing import Any, NamedTuple

import aiohttp

CONNECT_TIMEOUT = 10.0  # seconds to open a connection
READ_TIMEOUT = 300.0  # seconds of silence from the provider before the call is given up

_sessions: dict[int, aiohttp.ClientSession] = {}


class Target(NamedTuple):
    """Where a chosen offer is called: the URL of its chat endpoint (`…/chat/completions` in the OpenAI
    format, `…/v1/messages` in Anthropic's), its wire format and its headers (with the key)."""

    url: str
    api: str
    headers: dict[str, str]


def session() -> aiohttp.ClientSession:
    """This event loop's session (made on first use; a forked worker makes its own)."""
    loop = asyncio.get_running_loop()
    s = _sessions.get(id(loop))
    if s is None or s.closed:
        connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0, ttl_dns_cache=300, loop=loop)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
        s = aiohttp.ClientSession(
            connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        _sessions[id(loop)] = s
    return s


async def close_all() -> None:
    """Close this event loop's session (when the server stops)."""
    s = _sessions.pop(id(asyncio.get_running_loop()), None)
    if s is not None and not s.closed:
        await s.close()


def target(reach: Any, provider: str) -> Target | None:
    """The chat endpoint of `provider` (an enabled one of `reach`), with its key read from its environment
    variable now (never stored): `Authorization: Bearer` in the OpenAI format, `x-api-key` in Anthropic's;
    None when the provider is not on. An Anthropic base URL may end in /v1 or not."""
    for p in reach.providers:
        if p.name == provider and p.enabled:
            headers = {"Content-Type": "application/json"}
            key = os.environ.get(p.key_env, "").strip() if p.key_env else ""
            base = p.spec.base_url.rstrip("/")
            if p.spec.api == "anthropic":
                if key:
                    headers["x-api-key"] = key
                url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
                return Target(url, p.spec.api, headers)
            if key:
                headers["Authorization"] = f"Bearer {key}"
            return Target(f"{base}/chat/completions", p.spec.api, headers)
    return None
