"""The Google sign-in stand-in, driven through Authlib and checked with joserfc."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.emulator import EmulatorError

from .conftest import CALLBACK, CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def discovery(emulator) -> dict:
    """The provider's OpenID configuration, fetched as the app fetches it."""
    return requests.get(emulator.google_discovery_url, timeout=5).json()


def _oauth_client() -> OAuth2Session:
    client = OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid email profile",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )
    client.trust_env = False
    return client


def _start(discovery: dict, **extra) -> tuple[OAuth2Session, str, str, str]:
    """Begin a sign-in as the app does; return (client, authorize URL, verifier, nonce)."""
    client = _oauth_client()
    verifier, nonce = generate_token(48), generate_token(20)
    url, _state = client.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
    )
    return client, url, verifier, nonce


def _sign_in(emulator, discovery, email="ada@example.com", **kwargs) -> tuple[dict, dict]:
    """Run the whole code flow; return (token response, verified id_token claims)."""
    client, url, verifier, nonce = _start(discovery)
    callback = emulator.google_sign_in(url, email, **kwargs)
    token = client.fetch_token(
        discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    keys = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return token, decoded.claims


def _code_from(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["code"][0]


def test_discovery_document_points_every_endpoint_at_the_emulator(emulator, discovery):
    assert discovery["issuer"] == f"{emulator.base_url}/google"
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert discovery[key].startswith(discovery["issuer"] + "/")
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert discovery["code_challenge_methods_supported"] == ["S256", "plain"]
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert {"sub", "email", "email_verified", "name", "nonce"} <= set(discovery["claims_supported"])


def test_code_flow_with_pkce_yields_a_signed_id_token_for_the_user(emulator, discovery):
    token, claims = _sign_in(emulator, discovery, "Ada@Example.com", name="Ada Lovelace")

    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    assert claims["email"] == "Ada@Example.com" and claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace"
    assert len(claims["sub"]) == 21 and claims["sub"].isdigit()
    keys = requests.get(discovery["jwks_uri"], timeout=5).json()
    header = jwt.decode(token["id_token"], KeySet.import_key_set(keys)).header
    assert (header["alg"], header["kid"]) == ("RS256", keys["keys"][0]["kid"])
    picture = requests.get(claims["picture"], timeout=5)
    assert picture.status_code == 200 and picture.headers["Content-Type"].startswith("image/svg+xml")


def test_state_comes_back_unchanged(emulator, discovery):
    _client, url, _verifier, _nonce = _start(discovery, state="s t/a+te?&=")

    callback = emulator.google_sign_in(url, "ada@example.com")

    assert callback.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(callback).query)["state"] == ["s t/a+te?&="]


def test_sub_is_stable_per_email_whatever_its_case(emulator, discovery):
    _token, first = _sign_in(emulator, discovery, "grace@example.com")
    _token, again = _sign_in(emulator, discovery, "GRACE@example.com")
    _token, other = _sign_in(emulator, discovery, "linus@example.com")

    assert first["sub"] == again["sub"]
    assert other["sub"] != first["sub"]


def test_unchecking_email_verified_is_reflected_in_the_token(emulator, discovery):
    _token, claims = _sign_in(emulator, discovery, "new@example.com", email_verified=False)

    assert claims["email_verified"] is False


def test_userinfo_answers_for_the_access_token_only(emulator, discovery):
    client, url, verifier, _nonce = _start(discovery)
    callback = emulator.google_sign_in(url, "ada@example.com", name="Ada")
    client.fetch_token(discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier)

    info = client.get(discovery["userinfo_endpoint"], timeout=5).json()
    anonymous = requests.get(
        discovery["userinfo_endpoint"], headers={"Authorization": "Bearer forged"}, timeout=5
    )

    assert (info["email"], info["name"], info["email_verified"]) == ("ada@example.com", "Ada", True)
    assert anonymous.status_code == 401


def test_login_hint_prefills_the_email(emulator, discovery):
    _client, url, _verifier, _nonce = _start(discovery, login_hint="hint@example.com")

    page = requests.get(url, timeout=5)

    assert page.status_code == 200
    assert 'value="hint@example.com"' in page.text
    assert ">Sign in</button>" in page.text and ">Cancel</button>" in page.text


def test_cancel_sends_access_denied_back_with_the_state(emulator, discovery):
    _client, url, _verifier, _nonce = _start(discovery, state="keep-me")

    callback = emulator.google_cancel(url)

    query = parse_qs(urlsplit(callback).query)
    assert query == {"error": ["access_denied"], "state": ["keep-me"]}


def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(emulator, discovery):
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": "http://evil.example/auth/callback",
        "response_type": "code",
        "scope": "openid email",
        "state": "x",
    }
    url = f"{discovery['authorization_endpoint']}?{urlencode(query)}"

    page = requests.get(url, allow_redirects=False, timeout=5)

    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "redirect_uri_mismatch" in page.text
    with pytest.raises(EmulatorError):
        emulator.google_sign_in(url, "ada@example.com")


def test_unknown_client_is_an_error_page(discovery):
    query = {"client_id": "someone-else", "redirect_uri": CALLBACK, "response_type": "code"}

    page = requests.get(
        f"{discovery['authorization_endpoint']}?{urlencode(query)}", allow_redirects=False, timeout=5
    )

    assert page.status_code == 400 and "invalid_client" in page.text


def test_redirect_uris_can_be_changed_at_run_time(emulator, discovery):
    other = "http://127.0.0.1:5888/auth/callback"
    emulator.configure(google_redirect_uris=[other])
    client = _oauth_client()
    client.redirect_uri = other
    url, _state = client.create_authorization_url(discovery["authorization_endpoint"])

    assert emulator.google_sign_in(url, "ada@example.com").startswith(other + "?code=")
    _client, old_url, _verifier, _nonce = _start(discovery)
    assert requests.get(old_url, timeout=5).status_code == 400


def test_a_wrong_pkce_verifier_is_invalid_grant(emulator, discovery):
    client, url, _verifier, _nonce = _start(discovery)
    callback = emulator.google_sign_in(url, "ada@example.com")

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(
            discovery["token_endpoint"],
            authorization_response=callback,
            code_verifier=generate_token(48),
        )

    assert caught.value.error == "invalid_grant"


def test_a_code_works_once(emulator, discovery):
    client, url, verifier, _nonce = _start(discovery)
    callback = emulator.google_sign_in(url, "ada@example.com")
    form = {
        "grant_type": "authorization_code",
        "code": _code_from(callback),
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }

    first = requests.post(discovery["token_endpoint"], data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    second = requests.post(discovery["token_endpoint"], data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)

    assert first.status_code == 200 and "id_token" in first.json()
    assert second.status_code == 400
    assert second.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


def test_client_secret_may_be_sent_in_the_body_but_must_be_right(emulator, discovery):
    _client, url, verifier, _nonce = _start(discovery)
    code = _code_from(emulator.google_sign_in(url, "ada@example.com"))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
    }

    wrong = requests.post(discovery["token_endpoint"], data={**form, "client_secret": "guess"}, timeout=5)
    right = requests.post(
        discovery["token_endpoint"], data={**form, "client_secret": CLIENT_SECRET}, timeout=5
    )

    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert right.status_code == 200 and right.json()["id_token"]


def test_exchanging_with_another_redirect_uri_fails(emulator, discovery):
    _client, url, verifier, _nonce = _start(discovery)
    code = _code_from(emulator.google_sign_in(url, "ada@example.com"))

    response = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:5999/elsewhere",
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "redirect_uri_mismatch"
