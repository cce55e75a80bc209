"""The library installs without its rehearsal: a wheel installed into a fresh venv with no extras
imports RemoteTable, has no moto (nor dask), and every feature that needs an extra says which in
one line. The wheel test builds and installs for real (about a minute; marked `install`, and run
by `make test` and CI like every other test)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_LINE = "pip install 'xacct-nb[sandbox]'"

WITHOUT_MOTO = """
import sys
sys.modules["moto"] = None  # as if moto were not installed
try:
    import xacct_nb.sandbox
except ImportError as err:
    print(type(err).__name__, err.exit_code, err, sep="|")
"""


def test_importing_the_sandbox_without_moto_says_which_extra():
    out = subprocess.run([sys.executable, "-c", WITHOUT_MOTO], capture_output=True, text=True,
                         check=True).stdout
    assert out == ("ExtraMissing|2|the sandbox (xacct_nb.sandbox) needs moto, which a plain `pip install "
                   f"xacct-nb` leaves out — {SANDBOX_LINE}\n")


def test_the_cli_commands_that_need_the_sandbox_say_so(tmp_path):
    code = "import sys; sys.modules['moto'] = None; from xacct_nb.cli import main; sys.exit(main())"
    for command in (["sandbox"], ["demo", "--runs-dir", str(tmp_path)], ["lab", "--sandbox"]):
        done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
        assert done.returncode == 2, (command, done.stderr)
        assert SANDBOX_LINE in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_to_dask_without_dask_says_which_extra():
    code = ("import sys; sys.modules['dask'] = None\n"
            "from xacct_nb.extras import require\n"
            "try:\n    require('dask', 'to_dask')\nexcept ImportError as err:\n    print(err)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("pip install 'xacct-nb[dask]'") and out.startswith("to_dask needs dask")


CHECK_IN_FRESH_VENV = """
import importlib.util, json, subprocess, sys
from xacct_nb import RemoteTable
import xacct_nb.dynamo
try:
    import xacct_nb.sandbox
    sandbox = "imported"
except ImportError as err:
    sandbox = str(err)
cli = subprocess.run([sys.prefix + "/bin/xacct-nb", "sandbox"], capture_output=True, text=True)
print(json.dumps({"RemoteTable": RemoteTable.__module__,
                  "absent": [m for m in ("moto", "dask", "werkzeug") if importlib.util.find_spec(m) is None],
                  "sandbox": sandbox, "cli": [cli.returncode, cli.stderr.strip()]}))
"""


@pytest.mark.install
def test_the_wheel_installs_without_extras_and_brings_no_moto(tmp_path):
    import json

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    (wheel,) = wheels.glob("xacct_nb-*.whl")
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    python = str(fresh / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=900, env=env)
    out = subprocess.run([python, "-c", CHECK_IN_FRESH_VENV], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=env).stdout
    found = json.loads(out)
    assert found["RemoteTable"] == "xacct_nb.dynamo.table"
    assert found["absent"] == ["moto", "dask", "werkzeug"]
    assert found["sandbox"].endswith(SANDBOX_LINE)
    assert found["cli"][0] == 2 and found["cli"][1].endswith(SANDBOX_LINE)
