"""The paid features by name. Adding one: write its module, then list it here."""

from __future__ import annotations

from creditapp.features.base import Feature
from creditapp.features.image.feature import ImageGeneration

FEATURES: dict[str, Feature] = {feature.name: feature for feature in (ImageGeneration(),)}


def get(name: str) -> Feature:
    """The feature registered under `name`; KeyError for an unknown one."""
    return FEATURES[name]


def title(name: str) -> str:
    """A person-readable name for a ledger's `feature_used` value."""
    feature = FEATURES.get(name)
    return feature.title if feature else name.replace("_", " ").capitalize()
