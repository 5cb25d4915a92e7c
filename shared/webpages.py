"""The response headers of the platform's public HTML pages and of the stylesheets they load.

One set for every page (the tips service's intake and follow-up pages, the awards service's certificates, the
console): the Content-Security-Policy allows nothing but this origin's own assets (no inline script or style, no
frames, forms posting only here), nothing is cached, and no referrer leaves the page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse, Response

PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "object-src 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def html_page(html: str, *, status: int = 200) -> HTMLResponse:
    """A public HTML page with the security headers."""
    return HTMLResponse(html, status_code=status, headers=PAGE_SECURITY_HEADERS)


def stylesheet(path: Path) -> Response:
    """A page's stylesheet (the only resource the pages' policy loads), cacheable, never sniffed as another type."""
    return Response(path.read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
