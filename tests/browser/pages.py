"""Checks every page state gets in the browser tests: axe-core in both colour schemes, and a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe-4.11.0.min.js"
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "pages"
DOCS = ROOT / "docs" / "screenshots"
# `make screenshots` (UPDATE_SCREENSHOTS=1) also copies each state into docs/screenshots/.
UPDATE_DOCS = os.environ.get("UPDATE_SCREENSHOTS") == "1"
TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one readable line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') stays on.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found = page.evaluate(
        """async (tags) => {
            const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
            const result = await axe.run(document, options);
            return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} — ` +
                v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }""",
        TAGS,
    )
    return list(found)


class States:
    """Named page states: each one checked by axe in light and dark, and photographed."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[str] = []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def check(self, page: Page, name: str, dark_shot: bool = False, docs: bool = True) -> None:
        """Run axe in both schemes on the current state and save its screenshot(s)."""
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.wait_for_timeout(50)  # let the colours switch before axe reads them
            for line in axe_violations(page):
                self.problems.append(f"{name} [{scheme}] {line}")
            if scheme == "light" or dark_shot:
                suffix = "" if scheme == "light" else "-dark"
                self._save(page, f"{name}{suffix}.png", docs)
        page.emulate_media(color_scheme="light")

    def _save(self, page: Page, filename: str, docs: bool) -> None:
        target = ARTIFACTS / filename
        page.screenshot(path=str(target), full_page=True)
        if UPDATE_DOCS and docs:
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, DOCS / filename)
