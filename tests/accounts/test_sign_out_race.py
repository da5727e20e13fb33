"""Two sign-outs of one session at the same moment (a double click, two tabs) answer as one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from creditapp.extensions import db
from creditapp.models import RevokedSession
from tests.accounts.test_sign_out import browser_with, copied, csrf_token, signed_in
from tests.support.oidc import sign_in

ROUNDS = 5  # each round a fresh sign-in; the race needs both requests to load the user first


def sign_out_together(app: Flask, tabs: list[FlaskClient], token: str) -> list[TestResponse]:
    """POST /logout from every tab at once (real threads released by a barrier)."""
    barrier = threading.Barrier(len(tabs))

    def sign_out(tab: FlaskClient) -> TestResponse:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                return tab.post("/logout", data={"csrf_token": token})
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        return list(pool.map(sign_out, tabs))


def test_two_simultaneous_sign_outs_of_one_session_both_answer_as_one(app, client, emulator):
    for round_number in range(ROUNDS):
        sign_in(client, emulator, "ada@example.com")
        token = csrf_token(client)  # first: the page puts the token in the session cookie
        cookies = copied(client)

        answers = sign_out_together(app, [browser_with(app, **cookies), browser_with(app, **cookies)], token)

        assert [a.status_code for a in answers] == [303, 303], f"round {round_number}"
        assert all(a.headers["Location"] == "/" for a in answers)
        assert not signed_in(browser_with(app, **cookies))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevokedSession)) == ROUNDS
