"""Processes and page helpers for the browser test (tests/test_browser.py).

Everything here runs OUT of the pytest process: moto's state is global per process and
tests/conftest.py already runs an in-process sandbox, so the browser test's sandbox is a
`xacct-nb sandbox` subprocess of its own, and JupyterLab is a subprocess pointed at it.
Every process is started in its own process group and stopped by that id, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Chromium on a machine with no network but the package registries: without the background
# networking flags it keeps trying (and failing) to reach Google's hosts.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
AWS_VARS_TO_DROP = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                    "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION", "AWS_REGION")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Background:
    """A child process in its own process group, output to a log file; stop() ends the group."""

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], log: Path, cwd: Path):
        self.name, self.log = name, log
        self._log_handle = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self._log_handle,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_until(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before {what}:\n"
                                   f"{tail(self.log)}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no {what} after {timeout:.0f} s:\n{tail(self.log)}")

    def stop(self, first_signal: int = signal.SIGINT, grace: float = 10) -> None:
        """Ask nicely (SIGINT: the sandbox CLI and Jupyter both shut down on it), then SIGKILL."""
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if self.alive():
            try:
                os.kill(self.proc.pid, first_signal)
                self.proc.wait(timeout=grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if pgid is not None:  # kernels and other children of this group only
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log_handle.close()


# -- the sandbox ------------------------------------------------------------------------------

class SandboxProcess(Background):
    """`xacct-nb sandbox` on a free loopback port, state (config/credentials) in `state_dir`."""

    def __init__(self, state_dir: Path, *, orders: int, log: Path):
        self.port = free_port()
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "xacct_nb.cli", "sandbox", "--port", str(self.port),
               "--dir", str(state_dir), "--orders", str(orders)]
        super().__init__("sandbox", cmd, env=clean_env(), log=log, cwd=REPO)
        self.wait_until(lambda: (state_dir / "sandbox.json").exists(), 90, "sandbox.json")

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_CONFIG_FILE": str(self.state_dir / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.state_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1"}

    def session(self, profile: str):
        """A boto3 session on this sandbox that does not read (or change) os.environ."""
        import boto3
        import botocore.session

        core = botocore.session.Session()
        core.set_config_variable("config_file", self.env["AWS_CONFIG_FILE"])
        core.set_config_variable("credentials_file", self.env["AWS_SHARED_CREDENTIALS_FILE"])
        core.set_config_variable("profile", profile)
        core.set_config_variable("region", "us-east-1")
        return boto3.Session(botocore_session=core)

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run an `xacct-nb` command against this sandbox; raise with its output on failure."""
        done = subprocess.run([sys.executable, "-m", "xacct_nb.cli", *args], cwd=REPO,
                              env=clean_env(self.env), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"xacct-nb {' '.join(args)} exited {done.returncode}:\n"
                               f"{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without any AWS settings (the in-process sandbox fixture may have set some)."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARS_TO_DROP}
    env.update(extra or {})
    return env


# -- JupyterLab -------------------------------------------------------------------------------

def copy_notebooks(dest: Path) -> Path:
    """notebooks/ and params/ side by side under dest (so "../params/local.yaml" resolves),
    outputs and execution counts stripped, so the browser never touches the committed files."""
    shutil.copytree(REPO / "params", dest / "params")
    (dest / "notebooks").mkdir(parents=True)
    for src in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(src.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        (dest / "notebooks" / src.name).write_text(json.dumps(nb, indent=1))
    return dest / "notebooks"


class JupyterLab(Background):
    """JupyterLab on 127.0.0.1:<free port> with a token, no browser, no news or update checks,
    its own config/runtime/data/settings/workspace folders under `home`."""

    def __init__(self, home: Path, notebook_dir: Path, *, env: dict[str, str], log: Path):
        self.port, self.token = free_port(), os.urandom(16).hex()
        self.notebook_dir = notebook_dir
        dirs = {name: home / name for name in ("config", "runtime", "data", "settings", "workspaces",
                                               "ipython")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # Server side: no announcements feed, never check PyPI for a newer JupyterLab.
        (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps({
            "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
        }))
        # Front end: do not ask "would you like to receive official Jupyter news?".
        notification = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(json.dumps(
            {"fetchNews": "false", "checkForUpdates": False}))
        lab_env = clean_env(env)
        lab_env.update(JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
                       JUPYTER_DATA_DIR=str(dirs["data"]), IPYTHONDIR=str(dirs["ipython"]),
                       JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={notebook_dir}",
               "--ServerApp.terminals_enabled=False",
               "--MappingKernelManager.default_kernel_name=xacct-nb",
               f"--LabApp.user_settings_dir={dirs['settings']}",
               f"--LabApp.workspaces_dir={dirs['workspaces']}"]
        super().__init__("jupyterlab", cmd, env=lab_env, log=log, cwd=notebook_dir)
        self.wait_until(self._answers, 90, "answer on /api/status")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        # ?reset: a fresh workspace, so only this notebook is open
        return f"{self.base}/{path}?reset&token={self.token}"

    def end_sessions(self) -> None:
        """Shut down every notebook session and its kernel, so the next test opens its notebook
        fresh (JupyterLab otherwise asks which of the running kernels to use)."""
        headers = {"Authorization": f"token {self.token}"}
        with urllib.request.urlopen(urllib.request.Request(f"{self.base}/api/sessions", headers=headers),
                                    timeout=10) as r:
            sessions = json.loads(r.read())
        for session in sessions:
            req = urllib.request.Request(f"{self.base}/api/sessions/{session['id']}", method="DELETE",
                                         headers=headers)
            urllib.request.urlopen(req, timeout=30).close()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, first_signal: int = signal.SIGINT, grace: float = 10) -> None:
        # The REST shutdown stops the kernels too; then the process group is ended for sure.
        if self.alive():
            try:
                req = urllib.request.Request(f"{self.base}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {self.token}"})
                urllib.request.urlopen(req, timeout=5).close()
                self.proc.wait(timeout=grace)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        super().stop(signal.SIGTERM, grace=5)


# -- the page ---------------------------------------------------------------------------------

# The notebook panel on screen (the workspace is reset, but be exact anyway).
NOTEBOOK = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"
ERROR_OUTPUTS = (f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                 f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")

KERNEL_DISPLAY_NAME = "Python (xacct-nb)"
KERNEL_READY = """([panel, kernel]) => {
    const indicator = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator');
    const bar = document.querySelector('#jp-main-statusbar');
    return !!indicator && indicator.getAttribute('data-status') === 'idle'
        && !!bar && bar.innerText.includes(kernel + ' | Idle');
}"""
_RUN_FINISHED = """([panel]) => {
    const root = document.querySelector(panel);
    if (!root) return false;
    const status = root.querySelector('.jp-Notebook-ExecutionIndicator');
    const prompts = [...root.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    if (!prompts.length || prompts.some(p => p.includes('*'))) return false;
    if (status && status.getAttribute('data-status') !== 'idle') return false;
    const failed = root.querySelector(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
    return failed !== null || prompts.every(p => /\\[\\d+\\]/.test(p));
}"""


def open_notebook(page, lab: JupyterLab, name: str, timeout_ms: int = 60_000) -> None:
    page.goto(lab.url(f"lab/tree/{name}"))
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=timeout_ms)
    # The notebook's kernel (from its metadata) is up when the status bar says so: the toolbar's
    # indicator alone says "idle" before any kernel exists, and Run All then asks for a kernel.
    page.wait_for_function(KERNEL_READY, arg=[NOTEBOOK, KERNEL_DISPLAY_NAME], timeout=timeout_ms,
                           polling=200)
    fail_on_dialog(page)


def fail_on_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        raise AssertionError(f"JupyterLab shows a dialog: {dialog.first.inner_text()!r}")


def run_all_cells(page, timeout_ms: int = 90_000) -> None:
    """Run → Run All Cells, as a user does; wait until the kernel is idle and every cell ran
    (or one failed: Run All stops there). Raise with the error text if any output is an error."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    page.wait_for_function(_RUN_FINISHED, arg=[NOTEBOOK], timeout=timeout_ms, polling=250)
    fail_on_dialog(page)
    assert_no_errors(page)


_TABLES_PENDING = """([panel]) => [...document.querySelectorAll(panel + ' .jp-OutputArea-output')]
    .filter(o => /Loading ITables/.test(o.innerText)).map(o => o.innerText.trim().slice(0, 200))"""


def assert_tables_rendered(page, timeout_s: float = 20) -> None:
    """Every itables table has become a DataTable (none stuck at 'Loading ITables ... from ...')."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = page.evaluate(_TABLES_PENDING, [NOTEBOOK])
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(pending)} itables table(s) never rendered, still showing {pending[0]!r}. "
                "itables in its default 'connected' mode loads DataTables from a CDN, which this "
                "machine (like an operator's locked-down network) cannot reach; the notebook must "
                "load it offline, e.g. itables.init_notebook_mode(connected=False) before the first show().")
        time.sleep(0.25)


def assert_no_errors(page) -> None:
    errors = page.locator(ERROR_OUTPUTS).all_inner_texts()
    if errors:
        raise AssertionError("the notebook shows error output:\n" + "\n---\n".join(e[-3000:] for e in errors))
