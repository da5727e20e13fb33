"""Sign-in with Google and sign-out."""

from flask import Blueprint, abort

bp = Blueprint("auth", __name__)


@bp.get("/login")
def login():
    """Start sign-in with the identity provider."""
    abort(501)


@bp.post("/logout")
def logout():
    """Sign out (CSRF-checked)."""
    abort(501)
