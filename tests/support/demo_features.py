"""Two feature packages an adopter might ship outside the project, written out by the kit tests.

`kit_echo` (a queued job: streams its words, can be stopped, priced per repeat, charged what
it says it used) and `kit_shout` (an instant feature returning bytes of its own type, or JSON).
They are installed the way a package from PyPI would be: a folder on `sys.path` with a
`*.dist-info` whose `entry_points.txt` names each class in the `creditapp.features` group.
No file of the project is touched.
"""

from __future__ import annotations

from pathlib import Path

ECHO = '''
"""Echo: repeats a text, word by word as it goes; says what it used."""

import threading
import time

from creditapp.config import price
from creditapp.features import Failure, Feature, InvalidInput

# The tests wait on these: a running echo has streamed its first word / may go on.
STARTED = threading.Event()
RELEASE = threading.Event()


class EchoFailed(Exception):
    pass


class Echo(Feature):
    name = "echo"
    title = "Echo"
    noun = "echo"
    unit = "echo"
    stoppable = True
    streams = True
    schema = {
        "type": "object",
        "properties": {
            "text": {
                "type": "string",
                "title": "Text to echo",
                "description": "Up to 300 characters.",
                "minLength": 1,
                "maxLength": 300,
                "pattern": "\\\\S",
            },
            "times": {"type": "integer", "title": "Times", "minimum": 1, "maximum": 5, "default": 1},
            "loud": {"type": "boolean", "title": "Loud", "default": False},
            "tone": {"type": "string", "title": "Tone", "enum": ["plain", "fancy"], "default": "plain"},
        },
        "required": ["text"],
        "additionalProperties": False,
    }

    def estimate(self, params, config):
        return price(config, "echo_per_time", 4) * params["times"]

    def check(self, params, config):
        if params["text"] == "forbidden":
            raise InvalidInput("That word may not be echoed.", field="text")

    def run(self, params, ctx):
        text = params["text"]
        if text.startswith("use:"):
            ctx.used(int(text.split(":")[1]))
        elif text.startswith("fail:"):
            ctx.used(int(text.split(":")[1]))
            raise EchoFailed()
        elif text == "wait":
            words = 0
            STARTED.clear()
            while not ctx.stopped() and words < 400:
                words += 1
                ctx.partial(f"word{words} ")
                ctx.used(words)
                if words == 3:
                    STARTED.set()
                time.sleep(0.02)
            ctx.result(text=ctx.params["text"] + f" ({words} words)")
            return
        said = " ".join([text.upper() if params["loud"] else text] * params["times"])
        ctx.progress(1.0, "echoed")
        ctx.result(text=said)

    def summary(self, params):
        return f"“{params.get('text', '')[:30]}” × {params.get('times', 1)}"

    def failure(self, exc):
        if isinstance(exc, EchoFailed):
            return Failure("echo_failed", "The echo failed.", transient=False)
        return None
'''

SHOUT = '''
"""Shout: an instant feature, its result bytes of its own content type (or JSON)."""

from creditapp.config import price
from creditapp.features import Feature

CONTENT_TYPE = "application/vnd.kit.shout"


class Shout(Feature):
    name = "shout"
    title = "Shout"
    mode = "instant"
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "title": "Text", "minLength": 1, "maxLength": 100},
            "as_json": {"type": "boolean", "title": "As JSON", "default": False},
        },
        "required": ["text"],
        "additionalProperties": False,
    }

    def estimate(self, params, config):
        return price(config, "shout", 2)

    def run(self, params, ctx):
        if params["as_json"]:
            ctx.result(json={"shouted": params["text"].upper()})
        else:
            ctx.result(data=params["text"].upper().encode("utf-8") + b"!", content_type=CONTENT_TYPE)
        ctx.used(1)

    def summary(self, params):
        return params.get("text", "")[:20]
'''

ENTRY_POINTS = """[creditapp.features]
echo = kit_echo:Echo
shout = kit_shout:Shout
"""


def write(root: Path, entry_points: str = ENTRY_POINTS, dist: str = "kit_demo") -> Path:
    """Install the two packages in `root` (to put on sys.path) with their entry points."""
    for package, source in (("kit_echo", ECHO), ("kit_shout", SHOUT)):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text(source, encoding="utf-8")
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return root
