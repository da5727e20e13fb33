"""Static files through WhiteNoise: content-hashed URLs cached for a year, served compressed.

At start the app copies `static/` into `<instance>/static/` under content-hashed names
(`htmx-2.0.11.min.<hash>.js`) next to the plain ones, with Brotli and gzip variants made by
WhiteNoise's compressor; files already built are kept, so a restart costs a few stats.
`url_for('static', filename=…)` answers the hashed URL, which WhiteNoise serves with
`Cache-Control: max-age=31536000, public, immutable`; a plain URL gets a short max-age.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import Flask
from werkzeug.datastructures import Headers
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

HASH_LENGTH = 12
VERSIONED = re.compile(rf"\.[0-9a-f]{{{HASH_LENGTH}}}\.[A-Za-z0-9]+$")
PLAIN_MAX_AGE = 60  # seconds, for the rare unversioned URL


class StaticFiles(WhiteNoise):
    """WhiteNoise with a one-year lifetime for versioned files (its default is ten years)."""

    FOREVER = 365 * 24 * 60 * 60


def versioned_name(relative: str, data: bytes) -> str:
    """`vendor/htmx.min.js` -> `vendor/htmx.min.<first 12 hex of sha256>.js`."""
    digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
    stem, dot, suffix = relative.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else f"{relative}.{digest}"


def _write_atomically(path: Path, data: bytes) -> None:
    # Several workers may build at once: each file appears whole or not at all.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.chmod(temporary, 0o644)  # mkstemp makes 0600; these are public files
    os.replace(temporary, path)


def _write_with_variants(path: Path, data: bytes, compressor: Compressor) -> None:
    """Write `path` and, where compression pays, `path.br` and `path.gz` (variants first)."""
    if compressor.should_compress(path.name):
        brotli_data = compressor.compress_brotli(data)
        if compressor.is_compressed_effectively("Brotli", str(path), len(data), brotli_data):
            _write_atomically(path.with_name(path.name + ".br"), brotli_data)
            gzip_data = compressor.compress_gzip(data)
            if compressor.is_compressed_effectively("Gzip", str(path), len(data), gzip_data):
                _write_atomically(path.with_name(path.name + ".gz"), gzip_data)
    _write_atomically(path, data)


def build(source: Path, target: Path) -> dict[str, str]:
    """Mirror `source` into `target` with hashed copies and compressed variants.

    Returns the manifest: relative name -> versioned relative name.
    """
    compressor = Compressor(quiet=True)
    manifest: dict[str, str] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
        relative = path.relative_to(source).as_posix()
        data = path.read_bytes()
        versioned = versioned_name(relative, data)
        manifest[relative] = versioned
        if (target / versioned).is_file():
            continue  # built by an earlier start with the same content
        _write_with_variants(target / relative, data, compressor)
        _write_with_variants(target / versioned, data, compressor)  # last: it marks the file done
    return manifest


def _nosniff(headers: Headers, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> None:
    """Build the static files, serve them with WhiteNoise, make url_for('static') versioned."""
    source = Path(app.static_folder)
    target = Path(app.instance_path) / "static"
    manifest = build(source, target)
    prefix = app.static_url_path.rstrip("/") + "/"
    app.wsgi_app = StaticFiles(
        app.wsgi_app,
        root=str(target),
        prefix=prefix,
        max_age=PLAIN_MAX_AGE,
        allow_all_origins=False,
        immutable_file_test=lambda path, url: bool(VERSIONED.search(url)),
        add_headers_function=_nosniff,
    )

    @app.url_defaults
    def versioned_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]
