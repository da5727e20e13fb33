"""The production app plus two reference routes for the badge benchmark.

`/bench/bare` is the cheapest route the app can serve; `/bench/round-trip` adds the least
any fresh read must do, one statement through the app's engine, so the badge's ratio can
be read against what one database round trip costs on the machine running the bench.
"""

import sqlalchemy as sa

from creditapp.extensions import db
from wsgi import app

ROUND_TRIP = sa.text("SELECT 1")


@app.get("/bench/bare")
def bare():
    """Same hooks and headers as every route; no database, no template."""
    return "ok"


@app.get("/bench/round-trip")
def round_trip():
    """The bare route plus one statement, run the way the badge runs its own (autocommit)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(ROUND_TRIP).scalar_one()
    return "ok"
