"""What the `plan` and `lab` commands do besides parsing arguments: per-side confirmation ids,
and starting JupyterLab (Jupyter's own options passed through, a dead sandbox detected) on a
per-user workspace of notebook copies, stopped with its kernels on SIGTERM/SIGHUP/Ctrl-C."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .errors import InputError
from .extras import require
from .provisioning import Plan

SIDE_NOTEBOOKS = (("main", "01"), ("consumer", "02"))
WORKSPACE = "workspace"  # git-ignored: per-user working copies the lab opens
LAB_STOP_SECONDS = 30  # how long JupyterLab may take to shut its kernels down before it is killed
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
    require("sandbox", "lab --sandbox")
    info_path = Path(state_dir) / "sandbox.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        raise InputError(f"no running sandbox found in {state_dir} — start one with "
                         "`xacct-nb sandbox` in another terminal, or drop --sandbox") from None
    problem = _dead_sandbox(info, state_dir)
    if problem:
        info_path.unlink(missing_ok=True)  # stale: it describes a sandbox that is gone
        raise InputError(f"the sandbox in {state_dir} is not running ({problem}); removed its stale "
                         f"sandbox.json — start it again with `xacct-nb sandbox --dir {state_dir}`")
    state = os.path.abspath(state_dir)
    return {"AWS_CONFIG_FILE": os.path.join(state, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(state, "credentials")}


def _dead_sandbox(info: dict, state_dir: str) -> str | None:
    """Why the sandbox described by `info` is not serving, or None when it answers an ordinary
    signed API call (a bare GET would make moto log a traceback)."""
    from .sandbox import health_problem

    pid = info.get("pid")
    if isinstance(pid, int) and not _pid_alive(pid):
        return f"its process {pid} is gone"
    return health_problem(state_dir, str(info.get("endpoint_url", "")))


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


def lab_workspace(notebooks: str | os.PathLike, *, user: str | None = None, refresh: bool = False,
                  log=print) -> Path:
    """`workspace/USER/` next to the tracked `notebooks` folder, holding a working copy of each
    tracked notebook (as committed): created on first use, a missing copy added, existing copies
    kept — and replaced by the committed version only with `refresh`. The lab opens these, so
    opening, running and saving never touch a tracked file (workspace/ is git-ignored)."""
    from .runbook import pristine_source

    source = Path(notebooks).resolve()
    tracked = sorted(source.glob("*.ipynb"))
    if not tracked:
        raise InputError(f"--notebooks {notebooks}: no notebooks there — run from the repository root "
                         "or pass the folder of the tracked notebooks")
    folder = source.parent / WORKSPACE / (user or getpass.getuser())
    folder.mkdir(parents=True, exist_ok=True)
    added: list[str] = []
    replaced: list[str] = []
    for nb in tracked:
        copy = folder / nb.name
        text = pristine_source(nb).text
        if copy.exists() and (not refresh or copy.read_text(encoding="utf-8") == text):
            continue
        (replaced if copy.exists() else added).append(nb.name)
        copy.write_text(text, encoding="utf-8")
    if added:
        log(f"lab workspace {folder}: added {', '.join(added)} (copies of the committed notebooks)")
    if replaced:
        log(f"lab workspace {folder}: replaced {', '.join(replaced)} with the committed versions (--refresh)")
    return folder


def run_lab(cmd: list[str], env: dict[str, str]) -> int:
    """Run JupyterLab until it exits. SIGTERM, SIGHUP and Ctrl-C all stop it the same way: one
    SIGTERM, on which Jupyter shuts its kernels down (they hold assumed-role credentials) and
    exits; if it has not exited within LAB_STOP_SECONDS (or on a second signal), it is killed.
    Jupyter runs in its own session so a closing terminal reaches only us, and we stop it."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    stopping: list[int] = []

    def stop(signum: int, _frame) -> None:
        stopping.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM if len(stopping) == 1 else signal.SIGKILL)

    handled = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        while True:
            try:
                code = proc.wait(timeout=LAB_STOP_SECONDS if stopping else None)
                break
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopping:
        print(f"xacct-nb lab: stopped JupyterLab and its kernels ({signal.Signals(stopping[0]).name})",
              file=sys.stderr)
        return 128 + stopping[0]
    return code
