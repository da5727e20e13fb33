"""README.md and docs/: every relative link resolves, and the README stays a front door.

Plain files only: no database, no app, no fixture of conftest.py. Links are read with
markdown-it-py (CommonMark plus tables), so a link inside a code span or block is not one.
A link to a file, folder or image must exist in the repository; a `#anchor`, in the same or
another markdown file, must be one of that file's headings as GitHub names them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 300

MARKDOWN = MarkdownIt("commonmark").enable("table")
HTML_TARGET = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")


def markdown_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def parsed(path: Path) -> list:
    return MARKDOWN.parse(path.read_text(encoding="utf-8"))


@cache
def anchors(path: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    tokens = parsed(path)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            text = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
            base = slug(text)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        elif token.type in ("html_block", "html_inline"):
            found.update(HTML_ANCHOR.findall(token.content))
        for child in token.children or []:
            if child.type == "html_inline":
                found.update(HTML_ANCHOR.findall(child.content))
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image of the file, raw HTML included."""
    found = []
    for token in parsed(path):
        line = token.map[0] + 1 if token.map else 0
        if token.type == "html_block":
            found += [(line, target) for target in HTML_TARGET.findall(token.content)]
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "link_open":
                found.append((line, str(child.attrGet("href"))))
            elif child.type == "image":
                found.append((line, str(child.attrGet("src"))))
            elif child.type == "html_inline":
                found += [(line, target) for target in HTML_TARGET.findall(child.content)]
    return found


def problem(root: Path, source: Path, target: str) -> str | None:
    """Why `target`, linked from `source`, does not resolve; None when it does or is not relative."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None  # an absolute URL: not checked here
    path = unquote(parts.path)
    if not path:
        destination = source
    elif path.startswith("/"):
        destination = (root / path.lstrip("/")).resolve()
    else:
        destination = (source.parent / path).resolve()
    if not destination.is_relative_to(root.resolve()):
        return "points outside the repository"
    if not destination.exists():
        return f"no such file or folder: {destination.relative_to(root.resolve())}"
    if parts.fragment:
        if destination.suffix != ".md" or not destination.is_file():
            return "an #anchor into something that is not a markdown file"
        if unquote(parts.fragment) not in anchors(destination):
            return f"no heading #{parts.fragment} in {destination.relative_to(root.resolve())}"
    return None


def broken_links(root: Path) -> list[str]:
    broken = []
    for source in markdown_files(root):
        for line, target in links(source):
            why = problem(root, source.resolve(), target)
            if why:
                broken.append(f"{source.relative_to(root)}:{line}: ({target}) {why}")
    return broken


def test_every_relative_link_in_readme_and_docs_resolves():
    broken = broken_links(ROOT)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_a_front_door_of_at_most_300_lines():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the rest into docs/"


def test_links_are_found_where_markdown_puts_them():
    assert len(links(ROOT / "README.md")) > 10  # the parser sees the README's links at all
    assert "screenshots/history.png" in [target for _, target in links(ROOT / "docs" / "using.md")]


def test_headings_get_githubs_ids():
    assert slug("Timeouts: what bounds a request, and what a restart does") == (
        "timeouts-what-bounds-a-request-and-what-a-restart-does"
    )
    assert slug("Local stand-ins for Stripe and Google (emulators/)") == (
        "local-stand-ins-for-stripe-and-google-emulators"
    )
    assert slug("E-mail (SMTP)") == "e-mail-smtp"
    assert slug("`make run`".strip("`")) == "make-run"


def test_a_broken_link_of_each_kind_is_reported(tmp_path):
    (tmp_path / "docs" / "design").mkdir(parents=True)
    (tmp_path / "docs" / "pictures").mkdir()
    (tmp_path / "docs" / "pictures" / "a.png").write_bytes(b"")
    (tmp_path / "docs" / "design" / "ledger.md").write_text(
        "# Design: the ledger\n\n## One lock order\n\n## Notes\n\n## Notes\n"
    )
    (tmp_path / "README.md").write_text(
        "# Front door\n\n## The `make run` command\n\n"
        "[ok](docs/design/ledger.md#one-lock-order) [ok](docs/design/ledger.md#notes-1)\n"
        "[ok](#the-make-run-command) [ok](docs/pictures/) ![ok](docs/pictures/a.png)\n"
        "[ok](https://example.com/missing) `[not a link](nowhere.md)`\n\n"
        "[file](docs/using.md) [anchor](docs/design/ledger.md#no-such-heading) [here](#nothing)\n"
        "![image](docs/pictures/b.png) [folder](docs/designs/) [outside](../elsewhere.md)\n"
        "[anchor into a picture](docs/pictures/a.png#top)\n"
    )

    broken = broken_links(tmp_path)

    assert [entry.split(" ", 1)[0] for entry in broken] == [
        "README.md:9:",
        "README.md:9:",
        "README.md:9:",
        "README.md:10:",
        "README.md:10:",
        "README.md:10:",
        "README.md:11:",
    ]
    assert [entry.split(" ", 2)[1] for entry in broken] == [
        "(docs/using.md)",
        "(docs/design/ledger.md#no-such-heading)",
        "(#nothing)",
        "(docs/pictures/b.png)",
        "(docs/designs/)",
        "(../elsewhere.md)",
        "(docs/pictures/a.png#top)",
    ]
