"""What the `plan` and `lab` commands do besides parsing arguments: per-side confirmation ids,
and starting JupyterLab (Jupyter's own options passed through, a dead sandbox detected)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .errors import InputError
from .provisioning import Plan

SIDE_NOTEBOOKS = (("main", "01"), ("consumer", "02"))
# Jupyter options `xacct-nb lab` documents; any other `--option` is passed through as well.
LAB_OPTIONS = ("--allow-root", "--no-browser", "--port", "--ip")


def side_confirm_lines(plan: Plan) -> list[str]:
    """How to apply `plan` side by side: notebooks 01 and 02 each plan one account, so each has
    its own plan id (the two-sided id only confirms `xacct-nb apply`)."""
    lines = []
    for side, notebook in SIDE_NOTEBOOKS:
        part = plan.side(side)
        if part.has_changes:
            lines.append(f"to apply the {side} side: xacct-nb run {notebook} --env {plan.spec.env} "
                         f"-p confirm={part.id}")
    return lines


def sandbox_env(state_dir: str) -> dict[str, str]:
    """AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE of the sandbox in `state_dir`, after checking
    it really runs: a killed sandbox leaves its sandbox.json behind."""
    info_path = Path(state_dir) / "sandbox.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        raise InputError(f"no running sandbox found in {state_dir} — start one with "
                         "`xacct-nb sandbox` in another terminal, or drop --sandbox") from None
    problem = _dead_sandbox(info)
    if problem:
        info_path.unlink(missing_ok=True)  # stale: it describes a sandbox that is gone
        raise InputError(f"the sandbox in {state_dir} is not running ({problem}); removed its stale "
                         f"sandbox.json — start it again with `xacct-nb sandbox --dir {state_dir}`")
    state = os.path.abspath(state_dir)
    return {"AWS_CONFIG_FILE": os.path.join(state, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(state, "credentials")}


def _dead_sandbox(info: dict) -> str | None:
    """Why the sandbox described by `info` is not serving, or None when it answers."""
    pid = info.get("pid")
    if isinstance(pid, int) and not _pid_alive(pid):
        return f"its process {pid} is gone"
    endpoint = info.get("endpoint_url", "")
    try:
        urllib.request.urlopen(f"{endpoint}/", timeout=3).close()
    except urllib.error.HTTPError:
        return None  # it answered, even if with an error status
    except (urllib.error.URLError, OSError, ValueError):
        return f"{endpoint or 'its endpoint'} does not answer"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


def lab_command(notebooks: str, jupyter_args: list[str]) -> list[str]:
    """The JupyterLab command line: loopback only by default, `--allow-root` added when running
    as root (Jupyter refuses root otherwise), the caller's Jupyter options last so they win."""
    cmd = [sys.executable, "-m", "jupyterlab", "--notebook-dir", notebooks]
    if not any(a == "--ip" or a.startswith(("--ip=", "--ServerApp.ip")) for a in jupyter_args):
        cmd.append("--ServerApp.ip=127.0.0.1")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        cmd.append("--allow-root")
    return cmd + jupyter_args
