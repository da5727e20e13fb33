"""Static files: versioned URLs in pages, served compressed and cached for a year."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parents[2]
HTMX = ROOT / "static" / "vendor" / "htmx-2.0.11.min.js"
YEAR_IMMUTABLE = re.compile(r"\bmax-age=31536000\b.*\bimmutable\b")


def fetch(client, url: str, **headers: str):
    """GET a static file and close it (WhiteNoise answers with an open file)."""
    response = client.get(url, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response.get_data()
    response.close()
    return response


def htmx_url(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'<script src="([^"]+)"', html).group(1)


def test_pages_reference_htmx_by_a_url_that_changes_with_its_content(client):
    digest = hashlib.sha256(HTMX.read_bytes()).hexdigest()[:12]
    assert htmx_url(client) == f"/static/vendor/htmx-2.0.11.min.{digest}.js"
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'href="/static/css/app\.[0-9a-f]{12}\.css"', html)


def test_htmx_is_served_brotli_compressed_and_cached_for_a_year(client):
    response = fetch(client, htmx_url(client), Accept_Encoding="gzip, deflate, br")
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert YEAR_IMMUTABLE.search(response.headers["Cache-Control"]), response.headers["Cache-Control"]
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "text/javascript"
    assert len(response.data) < HTMX.stat().st_size / 2
    assert brotli.decompress(response.data) == HTMX.read_bytes()


def test_a_client_without_brotli_gets_gzip_and_one_without_either_the_plain_file(client):
    url = htmx_url(client)
    gzipped = fetch(client, url, Accept_Encoding="gzip")
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzipped.data != HTMX.read_bytes() and gzip.decompress(gzipped.data) == HTMX.read_bytes()
    plain = fetch(client, url, Accept_Encoding="identity")
    assert "Content-Encoding" not in plain.headers and plain.data == HTMX.read_bytes()


def test_a_versioned_file_is_revalidated_without_a_body(client):
    first = fetch(client, htmx_url(client))
    again = fetch(client, htmx_url(client), If_None_Match=first.headers["ETag"])
    assert again.status_code == 304 and again.data == b""


def test_an_unversioned_url_still_works_with_a_short_cache(client):
    response = fetch(client, "/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=60, public"
