"""`flask credits …` commands: readable lines, errors on stderr with a non-zero exit."""

from __future__ import annotations

import pytest

from creditapp import ledger


def test_balance_prints_the_balance(runner, make_user):
    make_user(email="ada@example.com", credits=500)

    result = runner.invoke(args=["credits", "balance", "ADA@example.com"])

    assert result.exit_code == 0
    assert result.output.strip() == "ada@example.com: 500 credits"


def test_grant_records_a_signed_adjustment_with_its_reason(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)

    added = runner.invoke(args=["credits", "grant", "ada@example.com", "25", "--reason", "goodwill"])
    removed = runner.invoke(args=["credits", "grant", "ada@example.com", "-5", "--reason", "typo"])

    assert added.exit_code == 0 and removed.exit_code == 0
    assert "balance now 520" in removed.output
    assert ledger.balance(user_id).credits == 520
    history = runner.invoke(args=["credits", "history", "ada@example.com", "--limit", "2"])
    assert history.exit_code == 0
    lines = history.output.strip().splitlines()
    assert len(lines) == 2
    assert "typo" in lines[0] and "-5" in lines[0]
    assert "goodwill" in lines[1]


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "balance", "nobody@example.com"],
        ["credits", "grant", "nobody@example.com", "5", "--reason", "x"],
        ["credits", "grant", "ada@example.com", "five", "--reason", "x"],
        ["credits", "grant", "ada@example.com", "5"],
        ["credits", "grant", "ada@example.com", "0", "--reason", "x"],
        ["credits", "grant", "ada@example.com", "-900", "--reason", "x"],
    ],
    ids=["unknown-email", "grant-unknown-email", "non-integer", "missing-reason", "zero", "below-zero"],
)
def test_bad_cli_input_fails_on_stderr_and_changes_nothing(runner, make_user, args):
    user_id = make_user(email="ada@example.com", credits=500)

    result = runner.invoke(args=args)

    assert result.exit_code != 0
    assert result.stderr.strip()
    assert ledger.balance(user_id).credits == 500


def test_audit_exits_zero_when_clean_and_one_on_a_mismatch(runner, make_user, app):
    import sqlalchemy as sa

    from creditapp.extensions import db
    from creditapp.models import Wallet, personal_wallet

    user_id = make_user(email="ada@example.com", credits=500)
    clean = runner.invoke(args=["credits", "audit"])
    db.session.execute(sa.update(Wallet).where(Wallet.id == personal_wallet(user_id)).values(balance=7))
    db.session.commit()
    broken = runner.invoke(args=["credits", "audit"])

    assert clean.exit_code == 0 and "clean" in clean.output
    assert broken.exit_code == 1
    assert "ada@example.com" in broken.stderr and "balance 7, ledger sum 500" in broken.stderr


def test_release_stale_returns_abandoned_holds(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=100)
    ledger.hold(user_id, "image", 30)

    kept = runner.invoke(args=["credits", "release-stale"])
    released = runner.invoke(args=["credits", "release-stale", "--older-than", "0"])

    assert kept.exit_code == 0 and "released 0" in kept.output
    assert released.exit_code == 0 and "released 1" in released.output
    assert ledger.balance(user_id) == ledger.Balance(credits=100, held=0)
