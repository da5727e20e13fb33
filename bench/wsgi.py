"""The production app plus one bare route, `/bench/bare`, for the badge-vs-bare benchmark."""

from wsgi import app


@app.get("/bench/bare")
def bare():
    """The cheapest route the app can serve: same hooks and headers, no database, no template."""
    return "ok"
