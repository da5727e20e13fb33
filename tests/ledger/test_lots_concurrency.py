"""Lots under races (§17): spends, the expiry sweep, a clawback and a grant on one wallet at once.

One wallet of ten lots with overlapping expiries (two lapsed and not yet swept, three
lapsing while the race runs) is spent from by twenty threads — each holding a few credits,
then capturing all, capturing part, releasing or leaving it held — while the sweep runs
twice, a refund is clawed back from the wallet's purchase and a grant arrives. After each
run the books must show: no lot below zero, no lot drawn from while it was not live, no
credit drawn twice (each lot's draws by held or captured spends within its amount, each
spend's draws summing to its charge), and a clean audit.

The PostgreSQL race runs with real threads in this process, fifty times; the SQLite one
holds and releases through a real gunicorn's threads (two workers) on a database file, with
the sweep, the clawback, the grant and the captures running in this process on the same file.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from creditapp import ledger
from creditapp.extensions import db
from creditapp.ledger.lots import aware
from creditapp.models import CreditLot, CreditLotDraw, CreditSpend, User, Wallet, utcnow
from tests.ledger.test_ledger import pending_purchase
from tests.support.threads import race

RUNS = 50
SPENDERS = 20
PACK = (10, 1000)  # the purchase: 10 credits for $10.00
REFUNDED = 600  # $6.00 refunded: 6 of its 10 credits taken back
GRANTED = 5
DAY = timedelta(days=1)
# (amount, category, priority, expiry): "lapsed" has passed, "lapsing" passes mid-race.
LOTS = [
    (6, "promotional", 50, "lapsed"),
    (4, "paid", 40, "lapsed"),
    (5, "promotional", 50, "lapsing"),
    (3, "paid", 50, "lapsing"),
    (7, "promotional", 60, "lapsing"),
    (5, "promotional", 50, timedelta(days=2)),
    (8, "paid", 50, timedelta(days=2)),
    (4, "promotional", 30, timedelta(days=30)),
    (6, "paid", 50, None),
]


@dataclass
class Wallet10:
    """A wallet of ten lots: nine granted, one its purchase's."""

    user_id: int
    wallet_id: int
    purchase_id: int


def wallet_of_ten_lots(user_id: int, run: int, lapse_in: float = 0.03) -> Wallet10:
    """Nine granted lots as LOTS says and a completed purchase; the lapsing ones end within
    about `lapse_in` × 3 seconds of now."""
    now = utcnow()
    ends = {}
    for amount, category, priority, expiry in LOTS:
        # A grant refuses an expiry already passed: the lapsing ones are moved there below.
        expires_at = None if expiry is None else now + (expiry if isinstance(expiry, timedelta) else DAY)
        lot_id = ledger.grant(
            user_id, amount, note="race lot", category=category, priority=priority, expires_at=expires_at
        ).lot_id
        if expiry == "lapsed":
            ends[lot_id] = now - timedelta(seconds=1)
        elif expiry == "lapsing":
            ends[lot_id] = now + timedelta(seconds=lapse_in * (len(ends) + 1))
    purchase_id = pending_purchase(user_id, *PACK, session=f"cs_race_{run}_{user_id}")
    assert ledger.complete_purchase(purchase_id, f"pi_race_{run}_{user_id}", PACK[1], "usd") is True
    for lot_id, when in ends.items():
        db.session.execute(sa.update(CreditLot).where(CreditLot.id == lot_id).values(expires_at=when))
    db.session.commit()
    wallet_id = db.session.get(User, user_id).wallet_id
    return Wallet10(user_id, wallet_id, purchase_id)


def sweep_twice() -> int:
    """The expiry sweep, then again once the lapsing lots have passed."""
    first = ledger.expire_lots()
    time.sleep(0.1)
    return len(first) + len(ledger.expire_lots())


def check_books(wallet_id: int) -> dict[str, int]:
    """Assert every rule of the module docstring for one wallet; returns counts for the caller."""
    db.session.expire_all()
    lots = {
        row.id: row
        for row in db.session.execute(
            sa.select(
                CreditLot.id,
                CreditLot.amount,
                CreditLot.remaining,
                CreditLot.effective_at,
                CreditLot.expires_at,
                CreditLot.voided_at,
            ).where(CreditLot.wallet_id == wallet_id)
        )
    }
    spends = {
        row.id: row
        for row in db.session.execute(
            sa.select(
                CreditSpend.id, CreditSpend.status, CreditSpend.credits_spent, CreditSpend.created_at
            ).where(CreditSpend.wallet_id == wallet_id)
        )
    }
    draws = db.session.execute(
        sa.select(CreditLotDraw.spend_id, CreditLotDraw.lot_id, CreditLotDraw.amount).where(
            CreditLotDraw.spend_id.in_(list(spends) or [0])
        )
    ).all()

    assert all(lot.remaining >= 0 for lot in lots.values()), lots
    drawn_per_spend: dict[int, int] = dict.fromkeys(spends, 0)
    kept_per_lot: dict[int, int] = dict.fromkeys(lots, 0)
    for draw in draws:
        lot, spend = lots[draw.lot_id], spends[draw.spend_id]
        drawn_per_spend[draw.spend_id] += draw.amount
        if spend.status in ("held", "captured"):
            kept_per_lot[draw.lot_id] += draw.amount
        # Drawn only while live: effective, not yet expired, not voided, when the hold ran.
        held_at = aware(spend.created_at)
        assert aware(lot.effective_at) <= held_at, (draw, lot, spend)
        assert lot.expires_at is None or aware(lot.expires_at) > held_at, (draw, lot, spend)
        assert lot.voided_at is None or aware(lot.voided_at) > held_at, (draw, lot, spend)
    for spend_id, spend in spends.items():
        assert drawn_per_spend[spend_id] == spend.credits_spent, (spend, drawn_per_spend[spend_id])
    for lot_id, lot in lots.items():
        assert kept_per_lot[lot_id] + lot.remaining <= lot.amount, (lot, kept_per_lot[lot_id])
    assert ledger.audit() == []

    # Once swept, nothing lapsed still counts: the stored balance is what may be spent.
    ledger.expire_lots()
    db.session.expire_all()
    stored = db.session.get(Wallet, wallet_id)
    assert stored.balance == ledger.balance(user_of(wallet_id)).credits
    assert ledger.audit() == []
    statuses = [s.status for s in spends.values()]
    return {status: statuses.count(status) for status in ("held", "captured", "released")}


def user_of(wallet_id: int) -> int:
    return db.session.execute(sa.select(User.id).where(User.wallet_id == wallet_id)).scalar_one()


def tally(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + value


def others(wallet: Wallet10, run: int) -> list[Callable[[], Any]]:
    """What races the spends: the sweep (twice), the refund's clawback, a grant."""
    return [
        sweep_twice,
        lambda: ledger.claw_back_refund(wallet.purchase_id, REFUNDED, f"re_{run}"),
        lambda: ledger.grant(wallet.user_id, GRANTED, note="mid-race grant"),
    ]


def race_in_process(app: Flask, wallet: Wallet10, rng: random.Random, run: int) -> list[Any]:
    """One run: SPENDERS threads hold a few credits each and end their hold, others race them."""
    costs = [rng.randint(1, 4) for _ in range(SPENDERS)]
    endings = [rng.choice(["capture", "part", "release", "keep"]) for _ in range(SPENDERS)]
    rest = others(wallet, run)

    def one(i: int) -> Any:
        if i >= SPENDERS:
            return rest[i - SPENDERS]()
        held = ledger.hold(wallet.user_id, "race", costs[i])
        if endings[i] == "capture":
            ledger.capture(held.spend_id)
        elif endings[i] == "part":
            ledger.capture(held.spend_id, charge=max(1, costs[i] // 2))
        elif endings[i] == "release":
            ledger.release(held.spend_id)
        return endings[i]

    return race(app, one, SPENDERS + len(rest))


def test_spends_sweeps_clawbacks_and_grants_racing_on_one_wallet_keep_every_lot_exact(app: Flask, make_user):
    rng = random.Random(21)
    totals: dict[str, int] = {}
    for run in range(RUNS):
        wallet = wallet_of_ten_lots(make_user(credits=0), run)

        outcomes = race_in_process(app, wallet, rng, run)

        refused = [o for o in outcomes if isinstance(o, ledger.InsufficientCredits)]
        unexpected = [o for o in outcomes if isinstance(o, Exception) and o not in refused]
        assert unexpected == [], unexpected
        assert outcomes[SPENDERS + 1] == 6  # the clawback took its 6 credits, from lots or owed
        assert isinstance(outcomes[SPENDERS + 2], ledger.Granted)
        tally(totals, check_books(wallet.wallet_id))
        tally(totals, {"refused": len(refused)})

    # Every path ran: holds kept, captured and released, and some refused for want of live credits.
    assert min(totals.values()) > 0, totals


# --- SQLite through gunicorn's threads ------------------------------------------------------

SQLITE_RUNS = 3


def race_through_gunicorn(
    app: Flask, url: str, shopper: Any, wallet: Wallet10, rng: random.Random, run: int
) -> list[Any]:
    """One run: SPENDERS image requests hold through gunicorn; a release is a cancel through
    gunicorn too, a capture runs here, as the job worker's would; others race them here."""
    endings = [rng.choice(["capture", "part", "release", "keep"]) for _ in range(SPENDERS)]
    rest = others(wallet, run)

    def one(i: int) -> Any:
        if i >= SPENDERS:
            return rest[i - SPENDERS]()
        response = requests.post(
            f"{url}/api/features/image",
            json={"prompt": "a lot", "size": 256},  # 5 credits
            headers=shopper.headers(),
            timeout=60,
        )
        if response.status_code == 402:
            return "refused"
        assert response.status_code == 202, response.text[:300]
        job = response.json()
        if endings[i] == "release":
            cancel = requests.post(
                f"{url}/api/jobs/{job['id']}/cancel", headers=shopper.headers(), timeout=60
            )
            assert cancel.status_code == 200, cancel.text[:300]
        elif endings[i] == "capture":
            ledger.capture(job["spend_id"])
        elif endings[i] == "part":
            ledger.capture(job["spend_id"], charge=2)
        return endings[i]

    return race(app, one, SPENDERS + len(rest))


@pytest.mark.smoke
def test_the_same_race_on_sqlite_through_gunicorns_threads_keeps_every_lot_exact():
    """Gunicorn runs 2 workers × 4 threads on a SQLite file of its own (whatever
    TEST_DATABASE_URL says); this process works on the same file."""
    from tests.multi import traffic
    from tests.multi.conftest import checking_app, emulator_for, instance_env, migrate
    from tests.multi.processes import Gunicorn
    from tests.multi.workers import job_settings
    from tests.support.emulator import free_port

    folder = Path(tempfile.mkdtemp(prefix="creditapp-lots-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{folder / 'creditapp.db'}"
    jobs = job_settings(folder / "results", broker_url=f"sqlite:///{folder / 'jobs.db'}")
    rng = random.Random(17)
    totals: dict[str, int] = {}
    try:
        with emulator_for(url) as emulator:
            app = checking_app(database_url, emulator, jobs)
            migrate(app)
            env = instance_env(database_url, emulator, **jobs, GUNICORN_THREADS="4")
            env.pop("REDIS_URL", None)
            server = Gunicorn(env, workers=2, port=port)
            try:
                for run in range(SQLITE_RUNS):
                    shopper = traffic.sign_in(url, emulator, f"lots{run}@example.com")
                    with app.app_context():
                        user_id = ledger.user_id_for_email(shopper.email)
                        wallet = wallet_of_ten_lots(user_id, run, lapse_in=0.3)
                        db.session.remove()

                    outcomes = race_through_gunicorn(app, url, shopper, wallet, rng, run)

                    errors = [o for o in outcomes if isinstance(o, Exception)]
                    assert errors == [], errors
                    assert outcomes[SPENDERS + 1] == 6
                    with app.app_context():
                        tally(totals, check_books(wallet.wallet_id))
                        db.session.remove()
                    tally(totals, {"refused": outcomes.count("refused")})
            finally:
                server.stop()
                with app.app_context():
                    db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert min(totals[status] for status in ("held", "captured", "released")) > 0, totals
