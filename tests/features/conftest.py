"""Fixtures of the kit tests (an app with features installed from outside the project) and of the
assistant's (the OpenAI Responses stand-in)."""

from tests.support.assistant import stand_in
from tests.support.kit import kit, kit_app, kit_server, person

__all__ = ["kit", "kit_app", "kit_server", "person", "stand_in"]
