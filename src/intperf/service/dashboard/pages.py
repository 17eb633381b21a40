"""``GET /dashboard`` (the HTML shell) and ``GET /dashboard/static/{path}`` (its assets).

Neither needs a key: the shell holds no data and the assets are code. The chart library
(uPlot, from npm) is copied by ``scripts/setup`` into ``static/vendor/`` (gitignored); in a
source checkout where only ``npm ci`` ran, it is read from ``node_modules`` instead. Without
it the dashboard works with tables and figures only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from intperf import __version__
from intperf.service.errors import ApiError

__all__ = ["router", "vendor_dir"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: The files of the chart library the dashboard loads, from its npm package's ``dist``.
VENDOR_FILES = ("uPlot.esm.js", "uPlot.min.css")
#: ``<checkout>/node_modules/uplot/dist`` when running from a source checkout.
NODE_DIST = HERE.parents[3] / "node_modules" / "uplot" / "dist"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
}

#: Only our own origin: no CDN, no third-party anything. uPlot sets inline styles.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

router = APIRouter(include_in_schema=False)


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def vendor_dir() -> Path | None:
    """Where the chart library's files are, or None when set-up did not install them."""
    for candidate in (STATIC / "vendor", NODE_DIST):
        if all((candidate / name).is_file() for name in VENDOR_FILES):
            return candidate
    return None


@router.get("/dashboard", response_class=HTMLResponse)
@router.get("/dashboard/", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """The single page; everything it shows is fetched by its scripts with the user's key."""
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = _templates().get_template("dashboard.html.j2").render(
        base=base, static=f"{base}/dashboard/static", version=__version__)
    return HTMLResponse(html, headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


@router.get("/dashboard/static/{path:path}", response_class=FileResponse)
def static_file(path: str) -> FileResponse:
    """One asset of the dashboard (its own, or the chart library's under ``vendor/``)."""
    file = _resolve(path)
    return FileResponse(file, media_type=CONTENT_TYPES[file.suffix], headers={
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


def _resolve(path: str) -> Path:
    missing = ApiError(404, f"no dashboard asset {path!r}", "path")
    if path.startswith("vendor/"):
        name = path.removeprefix("vendor/")
        where = vendor_dir()
        if name not in VENDOR_FILES or where is None:
            raise missing
        return where / name
    root = STATIC.resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file() or file.suffix not in CONTENT_TYPES:
        raise missing
    return file
