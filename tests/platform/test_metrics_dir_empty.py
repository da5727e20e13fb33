"""`PROMETHEUS_MULTIPROC_DIR=` left empty (as .env.example has it) means unset, as for every setting.

prometheus_client switches to multiprocess mode when the variable merely exists; empty, it
then wrote counter_<pid>.db files into whatever folder the process ran in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SERVE_METRICS = """
import sys
from pathlib import Path
import creditapp
if len(sys.argv) > 2:  # read .env from this folder instead of the project's
    creditapp.ROOT = Path(sys.argv[2])
app = creditapp.create_app(
    {"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": sys.argv[1], "JOBS_BROKER_URL": "memory://"}
)
response = app.test_client().get("/metrics")
assert response.status_code == 200, response.status_code
assert b"creditapp_http_requests_total" in response.data
"""


@pytest.mark.parametrize("how", ["environment", "dotenv"])
def test_an_empty_metrics_dir_writes_no_files_into_the_working_folder(app, database_url, tmp_path, how):
    folder = tmp_path / "cwd"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    args = [sys.executable, "-c", SERVE_METRICS, database_url]
    if how == "environment":  # an env file of docker or systemd, or `export NAME=` in a shell
        env["PROMETHEUS_MULTIPROC_DIR"] = ""
    else:  # a .env copied from .env.example, read by create_app
        (folder / ".env").write_text("PROMETHEUS_MULTIPROC_DIR=\n")
        args.append(str(folder))

    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.glob("*.db")) == []  # no counter_<pid>.db, histogram_<pid>.db
