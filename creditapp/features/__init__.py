"""Paid features: the kit and one subpackage per feature.

The kit: `kit` (Feature), `registry` (discovery), `inputs` (the schema's validation),
`forms` (the generated form), `views` and `api` (pages and API routes), `starting` (a use
started for a request), `api_spec` (the generated OpenAPI entries), `offers` (prices for
the pricing table and the badge).

    from creditapp.features import Context, Failure, Feature, InvalidInput, price

A feature is one package: a subclass of `Feature` (docs/features.md). At start every
subpackage of this package and every `creditapp.features` entry point is searched for one
(`registry.discover`); each found gets its pages, API, OpenAPI entry and job runner here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader

from creditapp.features.kit import Context, Failure, Feature, InvalidInput, price

__all__ = ["Context", "Failure", "Feature", "InvalidInput", "init_app", "price"]


def init_app(app: Flask) -> None:
    """Find the features, then serve each one's pages and API and let the job runner run it."""
    import inspect

    from creditapp.features import offers, registry, views
    from creditapp.jobs import runnable

    features = registry.discover()
    registry.install(app, features)
    runnable.register(app, features)
    views.register(app, features)
    offers.init_app(app)
    # A feature's package may bring its own templates (a `templates/` folder beside it).
    folders = [Path(inspect.getfile(type(f))).parent / "templates" for f in features]
    folders = [str(folder) for folder in dict.fromkeys(folders) if folder.is_dir()]
    if folders:
        app.jinja_loader = ChoiceLoader([app.jinja_loader, *(FileSystemLoader(f) for f in folders)])
