"""The OpenAPI document's tests reuse the key fixtures of tests/accounts."""

from tests.accounts.conftest import api, bearer, browser_session, new_key  # noqa: F401
