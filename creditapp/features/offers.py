"""What the features cost, for pages outside `features` that show prices: the pricing table's
"about N uses" and the balance badge's "low" state (below the cheapest use of any feature).

Those pages belong to lower packages (billing, history's badge), which never import a
feature: they read these Jinja globals instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, url_for

from creditapp.features import registry


@dataclass(frozen=True)
class Offer:
    """One feature as the pricing table lists it."""

    name: str
    title: str
    unit: str  # the table cell's class: pack-<unit>s
    typical: int  # credits of one use at the default input
    url: str
    action: str
    headline: str  # the home page's card
    blurb: str
    cheapest: int

    def uses(self, credits: int) -> str:
        """“about N uses” of `credits`, in the feature's words."""
        return registry.get(self.name).uses(credits // self.typical if self.typical > 0 else 0)


def feature_offers() -> list[Offer]:
    """Every feature with its typical price, in registry order."""
    config = current_app.config
    return [
        Offer(
            name=feature.name,
            title=feature.title,
            unit=feature.unit,
            typical=feature.typical(config),
            url=url_for(feature.page_endpoint),
            action=feature.action_label,
            headline=feature.headline or feature.title,
            blurb=feature.blurb,
            cheapest=feature.cheapest(config),
        )
        for feature in registry.every()
    ]


def cheapest_use() -> int:
    """The least one use of any feature costs (0 with no feature)."""
    config = current_app.config
    return min((feature.cheapest(config) for feature in registry.every()), default=0)


def init_app(app: Flask) -> None:
    """Offer the prices to every template."""
    app.jinja_env.globals.update(feature_offers=feature_offers, cheapest_use=cheapest_use)
