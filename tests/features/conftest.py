"""Fixtures of the kit tests (an app with features installed from outside the project)."""

from tests.support.kit import kit, kit_app, kit_server, person

__all__ = ["kit", "kit_app", "kit_server", "person"]
