"""Starting one use of a feature for a request: hold the credits and queue the job (or run an
instant feature), and what to answer when that is refused (for the page and the API alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_login import current_user

from creditapp import ledger
from creditapp.accounts import bearer
from creditapp.features.kit import Feature
from creditapp.jobs.idempotency import IdempotencyConflict
from creditapp.jobs.service import submit
from creditapp.ledger.key_limits import KeyLimitReached, KeyRevoked
from creditapp.ledger.member_limits import MemberLimitReached, NotAMember
from creditapp.platform.input_checks import InvalidInput


def insufficient_message(exc: ledger.InsufficientCredits) -> str:
    """Why the spend was refused, in words; a negative balance explains itself."""
    if exc.balance < 0:
        return (
            "Your balance is negative because a purchase was refunded; buy credits to continue. "
            f"You have {exc.balance} credits and this needs {exc.required}."
        )
    return f"Not enough credits: this needs {exc.required} and you have {exc.balance}."


def start(
    feature: Feature, raw: Mapping[str, Any], key: str | None, wallet_id: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Hold the credits and queue the job (run it, for an instant feature); (HTTP status,
    details) for either renderer. `wallet_id`: an organization's wallet to spend from
    (None: the personal wallet)."""
    user_id = current_user.id  # read before the ledger commits and expires the loaded user
    try:
        submission = submit(
            user_id,
            feature.name,
            raw,
            key,
            api_key_id=bearer.current_key_id(),
            idempotency_scope=bearer.idempotency_scope(),
            wallet_id=wallet_id,
        )
    except InvalidInput as exc:
        return 422, {"error": "invalid_input", "message": str(exc), "field": exc.field}
    except ledger.InsufficientCredits as exc:
        return 402, {
            "error": "insufficient_credits",
            "message": insufficient_message(exc),
            "credits": exc.balance,
            "required": exc.required,
        }
    except KeyLimitReached as exc:
        return 402, {
            "error": "key_limit_reached",
            "message": f"This API key may spend {exc.limit} credits a month; it has spent {exc.spent} "
            f"this month and this needs {exc.required}.",
            "limit": exc.limit,
            "spent": exc.spent,
            "required": exc.required,
        }
    except MemberLimitReached as exc:
        return 402, {
            "error": "member_limit_reached",
            "message": f"You may spend {exc.limit} of this organization's credits a month; you have "
            f"spent {exc.spent} this month and this needs {exc.required}.",
            "limit": exc.limit,
            "spent": exc.spent,
            "required": exc.required,
        }
    except NotAMember:
        return 404, {"error": "not_found", "message": "No such organization."}
    except KeyRevoked:
        return 401, {"error": "invalid_token", "message": "This API key was revoked."}
    except IdempotencyConflict as exc:
        return 409, {"error": exc.code, "message": str(exc), "spend_id": exc.spend_id}
    # 202 while the job is queued or running; one that has ended (a replay, an instant feature) 200.
    status = 200 if submission.job.ended else 202
    return status, {"submission": submission}
