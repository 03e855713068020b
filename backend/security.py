"""Cookie policy, CSRF protection and response headers for every page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from backend import maps

csrf = CSRFProtect()

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_local_request() -> bool:
    return urlsplit("//" + request.host).hostname in LOCAL_HOSTS


class LocalAwareSessionInterface(SecureCookieSessionInterface):
    """Secure cookies everywhere except on localhost, where the demo runs on plain HTTP."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return not is_local_request()


def _is_https(app: Flask) -> bool:
    if request.is_secure:
        return True
    # Behind a TLS-terminating proxy we trust, the proxy says how the browser connected.
    return bool(app.config.get("TRUST_PROXY")) and request.headers.get("X-Forwarded-Proto") == "https"


def init_app(app: Flask) -> None:
    app.session_interface = LocalAwareSessionInterface()
    csrf.init_app(app)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Everything is served by us: no CDN, no inline script. Map tiles are the one exception,
        # and only when a tile server is configured (backend/maps.py).
        tiles = maps.tile_source(app.config)
        img_src = f"'self' data: {tiles.origin}" if tiles else "'self' data:"
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src {img_src}; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'")
        if request.endpoint != "static" and "no-store" not in response.headers.get("Cache-Control", ""):
            # Pages and downloads show personal data: no copy in a browser's or proxy's cache.
            response.headers["Cache-Control"] = "no-store"
        if _is_https(app):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
