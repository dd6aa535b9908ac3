"""The web server's guards, as one ASGI middleware.

Browsers let any page send requests to a local server, so every request passes:

- **Host**: the Host header must name the address the server is bound to (``127.0.0.1``,
  ``localhost`` or ``[::1]`` for a loopback bind, with the port), so a page on a rebound DNS
  name (DNS rebinding) gets 421.
- **Token**: a random token made at launch. The page (``/``) carries it and sets it as a
  ``SameSite=Strict`` cookie. Every ``/api/`` request needs the cookie or the
  ``X-Underdog-Token`` header; every request that changes state (any method but GET/HEAD)
  needs the header, which a cross-site form or ``<img>`` cannot send. With ``--token``
  (required to bind a non-loopback address) the page itself also needs the token, given
  once in the URL (``/?token=...``).
- **Size**: a request whose Content-Length is over ``max_body`` bytes gets 413 here; the
  endpoints read bodies through ``app.read_body``, which counts what arrives (a missing or
  false Content-Length does not get past it).

Every refusal is a short JSON error that names no file and no internal detail.
"""

from __future__ import annotations

import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Awaitable, Callable
from urllib.parse import parse_qs

TOKEN_HEADER = b"x-underdog-token"
COOKIE = "underdog_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """Host header values accepted for a server bound to ``host:port`` (None: any, for a
    wildcard bind, which always needs the token)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = set(LOOPBACK) if host in LOOPBACK else {host}
    out = set()
    for n in names:
        n = f"[{n}]" if ":" in n else n
        out |= {f"{n}:{port}".lower()}
        if port == 80:
            out.add(n.lower())
    return out


async def _reply(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")] + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: Host check, token check, body size cap, security headers."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, token: str,
                 hosts: set[str] | None, page_needs_token: bool, max_body: int):
        self.app = app
        self.token = token
        self.hosts = hosts
        self.page_needs_token = page_needs_token
        self.max_body = max_body

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websockets
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.hosts is not None and host not in self.hosts:
            return await _reply(send, 421, "unknown host")
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        cookie = None
        if b"cookie" in headers:
            try:
                c = SimpleCookie(headers[b"cookie"].decode("latin-1"))
                cookie = c[COOKIE].value if COOKIE in c else None
            except Exception:  # a malformed cookie header is no token
                cookie = None
        header_token = headers.get(TOKEN_HEADER, b"").decode("latin-1") or None
        if method not in SAFE_METHODS:
            if not self._token_ok(header_token):
                return await _reply(send, 403, "missing or wrong token")
        elif path.startswith("/api/"):
            if not (self._token_ok(header_token) or self._token_ok(cookie)):
                return await _reply(send, 403, "missing or wrong token")
        elif self.page_needs_token and not self._token_ok(cookie) and not path.startswith(
                "/static/"):
            qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if not self._token_ok((qs.get("token") or [None])[0]):
                return await _reply(send, 403, "open the address underdog serve printed "
                                               "(it carries the token)")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await _reply(send, 400, "bad content-length")
            if n > self.max_body:
                return await _reply(send, 413, f"upload larger than {self.max_body:,} bytes")

        async def send_with_headers(msg):
            if msg["type"] == "http.response.start":
                h = list(msg.get("headers", []))
                h += [(b"x-content-type-options", b"nosniff"),
                      (b"x-frame-options", b"DENY"),
                      (b"referrer-policy", b"no-referrer"),
                      (b"content-security-policy",
                       b"default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                       b"style-src 'self'; script-src 'self'; connect-src 'self'; "
                       b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")]
                msg = {**msg, "headers": h}
            await send(msg)

        await self.app(scope, receive, send_with_headers)
