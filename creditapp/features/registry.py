"""The paid features by name: found at start, never listed by hand.

Discovery: every subpackage of `creditapp.features` is imported, and each `Feature` subclass
it defines (in its `__init__` or any module of it) is registered; then every entry point of
the `creditapp.features` group (`importlib.metadata.entry_points`), each naming a `Feature`
subclass, so a feature can ship in a package of its own:

    [project.entry-points."creditapp.features"]
    summarize = "acme_summarize:Summarize"

Two features with one name (or one URL segment) stop the app from starting.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, current_app, has_app_context

from creditapp.features.kit import Feature

ENTRY_POINT_GROUP = "creditapp.features"
EXTENSION_KEY = "creditapp.features"


class DuplicateFeature(RuntimeError):
    """Two features claim one name or one URL segment."""


def discover() -> list[Feature]:
    """One instance of every Feature subclass the project's subpackages and the entry points
    define: the subpackages in name order, then the entry points in name order."""
    import creditapp.features as package

    found: list[type[Feature]] = []
    for module in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        if module.ispkg:
            found.extend(_defined_in(module.name))
    for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        loaded = entry_point.load()
        if not (inspect.isclass(loaded) and issubclass(loaded, Feature)):
            raise TypeError(
                f"entry point {entry_point.name} = {entry_point.value} in {ENTRY_POINT_GROUP} "
                "must name a creditapp.features.Feature subclass"
            )
        found.append(loaded)
    unique = list(dict.fromkeys(found))  # one class found twice (a package and its entry point)
    for cls in unique:
        cls.check_definition()
    return [cls() for cls in unique]


def _defined_in(package_name: str) -> list[type[Feature]]:
    """The Feature subclasses a subpackage defines (its modules imported), in module order."""
    package = importlib.import_module(package_name)
    modules = [package]
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        modules.append(importlib.import_module(module.name))
    classes: list[type[Feature]] = []
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Feature)
                and cls is not Feature
                and cls.__module__.startswith(package_name)
                and "name" in vars(cls)
            ):
                classes.append(cls)
    return list(dict.fromkeys(classes))


def install(app: Flask, features: Iterable[Feature]) -> dict[str, Feature]:
    """Keep this app's features by name; DuplicateFeature when two share a name or a segment."""
    by_name: dict[str, Feature] = {}
    segments: dict[str, str] = {}
    for feature in features:
        for taken, what, key in ((by_name, "name", feature.name), (segments, "URL segment", feature.segment)):
            if key in taken:
                other = taken[key]
                other_name = other.name if isinstance(other, Feature) else other
                raise DuplicateFeature(
                    f"two features use the {what} {key!r}: {type(feature).__module__} and {other_name}"
                )
        by_name[feature.name] = feature
        segments[feature.segment] = feature.name
    app.extensions[EXTENSION_KEY] = by_name
    return by_name


def every(app: Flask | None = None) -> list[Feature]:
    """The app's features, in the order they were found."""
    return list(_features(app).values())


def get(name: str) -> Feature:
    """The feature registered under `name`; KeyError for an unknown one."""
    return _features()[name]


def find(name: str) -> Feature | None:
    """The feature registered under `name`, or None."""
    return _features().get(name)


def title(name: str) -> str:
    """A person-readable name for a ledger's `feature_used` value."""
    feature = _features().get(name)
    return feature.title if feature else name.replace("_", " ").capitalize()


def summary(name: str, params: Mapping[str, Any] | None) -> str:
    """The feature's short line about one use (empty for an unknown feature or no parameters)."""
    feature = _features().get(name)
    if feature is None or not params:
        return ""
    try:
        return feature.summary(dict(params))
    except Exception:  # noqa: BLE001 - old parameters a newer feature cannot read: no summary
        return ""


_found_outside_an_app: dict[str, Feature] = {}


def _features(app: Flask | None = None) -> dict[str, Feature]:
    """The app's features; outside an app (a script, a module's constants), what discovery finds."""
    if app is None and not has_app_context():
        if not _found_outside_an_app:
            _found_outside_an_app.update({feature.name: feature for feature in discover()})
        return _found_outside_an_app
    return (app or current_app).extensions.get(EXTENSION_KEY, {})
