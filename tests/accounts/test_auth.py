"""Sign-in with Google through the real Authlib flow against the stand-in, and sign-out."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, User
from tests.conftest import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, STRIPE_KEY, WEBHOOK_SECRET, free_port
from tests.support.oidc import begin_sign_in, finish_sign_in, sign_in
from tests.support.threads import race


def users() -> list[User]:
    return list(db.session.execute(sa.select(User).order_by(User.id)).scalars())


def signup_bonuses() -> int:
    query = sa.select(sa.func.count()).where(CreditAdjustment.reason == "signup_bonus")
    return db.session.execute(query).scalar_one()


def signed_in(client) -> bool:
    return client.get("/api/user/credits").status_code == 200


def csrf_token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def set_cookies(response) -> dict[str, str]:
    return {value.split("=", 1)[0]: value for value in response.headers.getlist("Set-Cookie")}


@pytest.fixture
def other_app(database_url: str, emulator):
    """Build extra apps (other settings) on the suite's database; disposed afterwards."""
    built: list[Flask] = []

    def build(**overrides) -> Flask:
        settings = {
            "CONFIG_NAME": "testing",
            "SECRET_KEY": "other-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
            "GOOGLE_DISCOVERY_URL": emulator.google_discovery_url,
            "RATELIMIT_ENABLED": False,
        }
        built.append(create_app({**settings, **overrides}))
        return built[-1]

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


def test_first_sign_in_creates_the_user_with_the_500_credit_welcome(client, emulator):
    response = sign_in(client, emulator, "Ada@Example.COM", name="Ada Lovelace")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    [user] = users()
    assert (user.email, user.name, user.credits) == ("ada@example.com", "Ada Lovelace", 500)
    assert user.avatar_url.startswith(emulator.base_url)
    assert signup_bonuses() == 1
    balance = client.get("/api/user/credits").json
    assert (balance["credits"], balance["held"], balance["owed"]) == (500, 0, 0)
    assert [lot["source"] for lot in balance["lots"]] == ["signup_bonus"]


def test_second_sign_in_keeps_the_balance_and_refreshes_the_name(app, client, emulator):
    sign_in(client, emulator, "ada@example.com", name="Ada")

    response = sign_in(app.test_client(), emulator, "ada@example.com", name="Ada King")

    assert response.status_code == 302
    [user] = users()
    assert (user.name, user.credits) == ("Ada King", 500)
    assert signup_bonuses() == 1


def test_two_first_sign_ins_racing_create_one_user_and_one_bonus(app, emulator):
    clients = [app.test_client(), app.test_client()]
    callbacks = [begin_sign_in(c, emulator, "racer@example.com", name="Racer") for c in clients]

    responses = race(app, lambda i: finish_sign_in(clients[i], callbacks[i]), 2)

    assert [r.status_code for r in responses] == [302, 302]
    [user] = users()
    assert user.credits == 500
    assert signup_bonuses() == 1
    assert all(signed_in(c) for c in clients)


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "/ok\r\nX: y"],
)
def test_sign_in_never_redirects_off_site(client, emulator, target):
    response = sign_in(client, emulator, "ada@example.com", next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_local_next_path_is_followed_after_sign_in(client, emulator):
    response = sign_in(client, emulator, "ada@example.com", next="/history?before=abc")

    assert response.headers["Location"] == "/history?before=abc"


def test_a_wrong_state_is_refused_and_writes_nothing(client, emulator):
    callback = begin_sign_in(client, emulator, "ada@example.com")
    path, query = callback.split("?", 1)
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params["state"] = "forged-state"

    response = client.get(f"{path}?{urlencode(params)}")

    assert response.status_code == 400
    assert "Sign-in failed" in response.get_data(as_text=True)
    assert users() == []
    assert not signed_in(client)


def test_a_replayed_callback_is_refused(app, client, emulator):
    callback = begin_sign_in(client, emulator, "ada@example.com")
    assert finish_sign_in(client, callback).status_code == 302

    assert finish_sign_in(client, callback).status_code == 400
    assert finish_sign_in(app.test_client(), callback).status_code == 400
    assert len(users()) == 1
    assert signup_bonuses() == 1


def test_cancelling_at_google_shows_a_friendly_page_with_a_retry_link(client, emulator):
    callback = begin_sign_in(client, emulator, "ada@example.com", next="/history", cancel=True)
    assert "error=access_denied" in callback

    response = finish_sign_in(client, callback)

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Sign-in cancelled" in page
    assert 'href="/login?next=%2Fhistory"' in page
    assert users() == []


def test_an_unverified_email_is_refused_and_writes_nothing(client, emulator):
    response = sign_in(client, emulator, "ada@example.com", email_verified=False)

    assert response.status_code == 400
    assert "not verified" in response.get_data(as_text=True)
    assert users() == []
    assert not signed_in(client)


def test_an_id_token_with_a_wrong_nonce_is_refused(client, emulator):
    callback = begin_sign_in(client, emulator, "ada@example.com")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    with client.session_transaction() as session:
        stored = session[f"_state_google_{state}"]
        stored["data"]["nonce"] = "not-the-nonce-google-signed"
        session[f"_state_google_{state}"] = stored

    response = finish_sign_in(client, callback)

    assert response.status_code == 400
    assert users() == []


def test_an_email_owned_by_another_google_account_gets_409_and_writes_nothing(client, emulator, make_user):
    owner = make_user(email="taken@example.com")

    response = sign_in(client, emulator, "taken@example.com")

    assert response.status_code == 409
    assert "already belongs to another Google account" in response.get_data(as_text=True)
    assert [u.id for u in users()] == [owner]
    assert ledger.balance(owner).credits == 500
    assert signup_bonuses() == 1


def test_sign_in_starts_a_fresh_session(client, emulator):
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"

    sign_in(client, emulator, "ada@example.com")

    with client.session_transaction() as session:
        assert "planted" not in session
        assert not any(key.startswith("_state_google_") for key in session)


def test_session_and_remember_cookies_are_httponly_and_samesite_lax(client, emulator):
    cookies = set_cookies(sign_in(client, emulator, "ada@example.com"))

    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name]
        assert "SameSite=Lax" in cookies[name]


def test_the_balance_shown_comes_from_the_database(client, emulator):
    sign_in(client, emulator, "ada@example.com")
    [user] = users()

    ledger.grant(user.id, 25, note="goodwill")

    assert client.get("/api/user/credits").json["credits"] == 525


def test_logout_by_get_is_not_allowed(client, emulator):
    sign_in(client, emulator, "ada@example.com")

    assert client.get("/logout").status_code == 405
    assert signed_in(client)


def test_logout_without_csrf_token_is_refused(app, client, emulator):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    sign_in(client, emulator, "ada@example.com")

    assert client.post("/logout").status_code == 400
    assert signed_in(client)


def test_logout_with_csrf_token_signs_out_and_forgets_the_remember_cookie(client, emulator):
    sign_in(client, emulator, "ada@example.com")

    response = client.post("/logout", data={"csrf_token": csrf_token(client)})

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "remember_token=;" in set_cookies(response)["remember_token"]
    assert not signed_in(client)


def test_api_signed_out_gets_401_json(client):
    response = client.get("/api/user/credits")

    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_htmx_signed_out_gets_hx_redirect_back_to_the_page(client):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/history?before=x"}

    response = client.get("/credits/badge", headers=headers)

    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=%2Fhistory%3Fbefore%3Dx"


def test_page_signed_out_redirects_to_login_with_next(client):
    response = client.get("/credits/badge?until=cs_1")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fcredits%2Fbadge%3Funtil%3Dcs_1"


def test_pages_refuse_to_be_framed_by_other_sites(client):
    assert client.get("/").headers["X-Frame-Options"] == "SAMEORIGIN"


def test_login_without_a_google_client_explains_instead_of_crashing(other_app):
    response = other_app(GOOGLE_CLIENT_ID="").test_client().get("/login")

    assert response.status_code == 503
    assert "GOOGLE_CLIENT_ID" in response.get_data(as_text=True)


def test_login_when_google_is_unreachable_gives_503(other_app):
    closed = f"http://127.0.0.1:{free_port()}/google/.well-known/openid-configuration"

    response = other_app(GOOGLE_DISCOVERY_URL=closed).test_client().get("/login")

    assert response.status_code == 503
    assert "Try signing in again" in response.get_data(as_text=True)


PRODUCTION_SECRETS = ["SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]
PRODUCTION_SECRETS += ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"]


def test_production_refuses_to_start_without_secrets(monkeypatch):
    for name in PRODUCTION_SECRETS:
        monkeypatch.setenv(name, "")  # empty, not unset, so a local .env cannot fill them in

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_production_cookies_are_secure(monkeypatch, database_url, emulator):
    env = {
        "SECRET_KEY": "prod-secret",
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
        "GOOGLE_DISCOVERY_URL": emulator.google_discovery_url,
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": "",
        "METRICS_TOKEN": "scrape-secret",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app("production")
    try:
        response = app.test_client().get("/login")
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 302
    cookie = set_cookies(response)["session"]
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax"))


def test_signed_out_posts_without_a_csrf_token_are_asked_to_sign_in(client):
    api = client.post("/api/features/image", json={"prompt": "a fox", "size": 256})
    fragment = client.post(
        "/features/image",
        data={"prompt": "a fox", "size": "256"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/features/image"},
    )

    assert api.status_code == 401 and api.get_json()["error"] == "unauthorized"
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login?next=%2Ffeatures%2Fimage"


def stored_email_was(user_id: int, email: str) -> None:
    """Test setup: the account signed up when its Google address was `email` (Google keeps the sub)."""
    db.session.execute(sa.update(User).where(User.id == user_id).values(email=email))
    db.session.commit()


def test_a_changed_google_email_replaces_the_stored_one_at_sign_in(app, client, emulator):
    sign_in(app.test_client(), emulator, "ada.new@example.com", name="Ada")
    [user] = users()
    stored_email_was(user.id, "ada.old@example.com")

    response = sign_in(client, emulator, "Ada.New@Example.com", name="Ada Lovelace")

    assert response.status_code == 302
    db.session.expire_all()
    [after] = users()
    assert (after.id, after.email, after.name, after.credits) == (
        user.id,
        "ada.new@example.com",
        "Ada Lovelace",
        500,
    )
    assert after.avatar_url.startswith(emulator.base_url)
    assert signup_bonuses() == 1
    # The old address is free again: its next owner can sign up with it.
    assert sign_in(app.test_client(), emulator, "ada.old@example.com").status_code == 302
    assert sorted(u.email for u in users()) == ["ada.new@example.com", "ada.old@example.com"]


def test_a_changed_google_email_owned_by_another_user_gets_409_and_writes_nothing(app, client, emulator):
    sign_in(app.test_client(), emulator, "shared@example.com", name="Mover")
    [mover] = users()
    stored_email_was(mover.id, "mover.old@example.com")
    owner, _ = ledger.register_user("sub-of-another-account", "shared@example.com", "Owner", None, 500)

    response = sign_in(client, emulator, "shared@example.com", name="Mover Renamed")

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "shared@example.com" in page and "another account here already uses" in page
    assert not signed_in(client)
    db.session.expire_all()
    rows = {u.id: (u.email, u.name) for u in users()}
    assert rows == {mover.id: ("mover.old@example.com", "Mover"), owner: ("shared@example.com", "Owner")}
    assert signup_bonuses() == 2
