"""An organization's API keys (DESIGN §19): listed with who made each, revoked by its owners
and admins. They are made by `api_keys.create_key(..., org_id=…)`, the same code as a
person's own keys. Plain ids, no request.

An organization key spends from the organization's wallet, under its maker's member limit
and its own. It stops working when its maker stops being a member: `teams.members` revokes
it in the removal's own transaction, and `api_keys.authenticate` refuses it meanwhile.
"""

from __future__ import annotations

import sqlalchemy as sa

from creditapp.accounts.api_keys import KeySummary, summaries
from creditapp.models import ApiKey, Organization, utcnow
from creditapp.platform.transactions import write
from creditapp.teams.organizations import require_manager


def list_org_keys(wallet_id: int) -> list[KeySummary]:
    """Every key of the organization's wallet, newest first, with who made each."""
    return summaries(ApiKey.wallet_id == wallet_id)


def find_org_key(wallet_id: int, key_id: int) -> KeySummary | None:
    """One key of the organization's wallet, or None."""
    found = summaries(sa.and_(ApiKey.wallet_id == wallet_id, ApiKey.id == key_id))
    return found[0] if found else None


def revoke_org_key(org_id: int, by_user_id: int, key_id: int) -> bool:
    """Revoke one of the organization's keys, whoever made it; False when it is not the
    organization's or already revoked. Only owners and admins may (teams' NotFound for a
    non-member, Forbidden for a member; nothing written)."""
    with write() as session:
        require_manager(session, org_id, by_user_id)
        wallet_id = sa.select(Organization.wallet_id).where(Organization.id == org_id).scalar_subquery()
        return _revoke(session, wallet_id, key_id)


def revoke_wallet_key(wallet_id: int, key_id: int) -> bool:
    """Revoke one key of the organization's wallet (support acting for it: the staff console
    checks who may); False when it is not that wallet's or already revoked."""
    with write() as session:
        return _revoke(session, wallet_id, key_id)


def _revoke(session: sa.orm.Session, wallet_id: int | sa.ScalarSelect, key_id: int) -> bool:
    result = session.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.wallet_id == wallet_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1
