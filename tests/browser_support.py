"""Processes and page helpers for the browser test (tests/test_browser.py).

Everything here runs OUT of the pytest process: moto's state is global per process and
tests/conftest.py already runs an in-process sandbox, so the browser test's sandbox is a
`xacct-nb sandbox` subprocess of its own, and JupyterLab is a subprocess pointed at it.
Every process is started in its own process group and stopped by that id, also on failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"
GALLERY = REPO / "docs" / "gallery"  # docs/gallery.md shows these; tests/test_docs.py checks the page
GALLERY_SHOTS = ("03-panel-after", "03-error-after-result", "04-matrix", "03-record-html", "01-diagram")
PARAMS = REPO / "params" / "local.yaml"
ORDERS = 1200          # 24 orders per customer (50 customers): more than one page of the result table
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


# -- fixtures shared by the browser test modules (they bind them by assignment: `lab = browser_support.lab`)

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Sandbox subprocess with params/local.yaml applied, and JupyterLab on a copy of notebooks/."""
    home = tmp_path_factory.mktemp("browser")
    started = time.monotonic()
    sandbox = jupyter = None
    try:
        sandbox = SandboxProcess(home / "sandbox", orders=ORDERS, log=home / "sandbox.log")
        sandbox.cli("apply", "--params", str(PARAMS), "--yes")
        notebooks = copy_notebooks(home / "work")
        jupyter = JupyterLab(home / "jupyter", notebooks, env=sandbox.env, log=home / "jupyter.log")
        print(f"\nbrowser test: sandbox + grants + JupyterLab ready in {time.monotonic() - started:.1f} s "
              f"(logs in {home})")
        yield sandbox, jupyter
    finally:
        if jupyter is not None:
            jupyter.stop()
        if sandbox is not None:
            sandbox.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        # a persistent context is how Playwright takes a --user-data-dir: a new, empty one
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1366, "height": 1100})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, request):
    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.console_errors = console_errors
    yield page
    shot(page, f"{request.node.name}-last")  # whatever the outcome: the state it ended in
    page.close()


def shot(target, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    try:
        target.screenshot(path=str(path))
        if name in GALLERY_SHOTS and os.environ.get("XACCT_NB_GALLERY") == "1":  # `make gallery`
            gallery_copy(path, GALLERY / path.name)
    except Exception as err:  # a screenshot must never hide the real failure
        print(f"screenshot {name} failed: {err}")
    return path


def gallery_copy(source: Path, target: Path, width: int = 1000, colors: int = 64) -> None:
    """A small copy for the committed gallery: at most `width` px wide, a 64-colour palette PNG,
    replaced atomically (a half-written image is never committed)."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    image.quantize(colors=colors).save(partial, format="PNG", optimize=True)
    partial.replace(target)


# -- the explorer panel of notebook 03 -------------------------------------------------------

PANEL = f"{NOTEBOOK} .xacct-explorer"
STATUS = f"{PANEL} .xacct-status"


def widget(page, kind: str, label: str):
    """The input of an ipywidgets control by its description label (e.g. the 'Key' text box)."""
    box = page.locator(f"{PANEL} .widget-{kind}").filter(
        has=page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
    return box.locator("select" if kind == "dropdown" else "input").first


RESULT = f"{PANEL} .xacct-result"
_RUN_DONE = """([status, result, before]) => {
    const text = (document.querySelector(status)?.innerText || '').trim();
    if (!text || text.startsWith('running')) return false;
    const out = document.querySelector(result);
    const marker = out ? out.innerHTML.length + ':' + (out.querySelector('table')?.id || '') : '';
    return text !== before[0] && marker !== before[1];
}"""


def _status_and_marker(page) -> list[str]:
    return page.evaluate("""([status, result]) => {
        const text = (document.querySelector(status)?.innerText || '').trim();
        const out = document.querySelector(result);
        const marker = out ? out.innerHTML.length + ':' + (out.querySelector('table')?.id || '') : '';
        return [text, marker]; }""", [STATUS, RESULT])


def set_controls(page, table, mode, index_name, key, sort_op, sort_values, filter_text, columns) -> None:
    widget(page, "dropdown", "Table").select_option(table)
    # the kernel answers a table change with that table's indexes: wait for them
    wanted = ["(table)", "by_status"] if table == "orders" else ["(table)"]
    index = widget(page, "dropdown", "Index")
    deadline = time.monotonic() + 10
    while index.evaluate("s => [...s.options].map(o => o.textContent)") != wanted:
        assert time.monotonic() < deadline, f"the Index choices never became {wanted} for {table}"
        time.sleep(0.1)
    page.locator(f"{PANEL} .widget-toggle-buttons button", has_text="Query" if mode == "query" else "Scan").click()
    index.select_option(label=index_name or "(table)")
    sort_op_box = widget(page, "dropdown", "Sort key")
    if mode == "query":
        widget(page, "text", "Key").fill(key)
        if table == "orders":  # its key and its index's key have a sort key; customers' has not
            sort_op_box.select_option(label=sort_op or "(any)")
            boxes = page.locator(f"{PANEL} .widget-hbox:has(label:text-is('Sort key')) input")
            for box, value in zip(boxes.all(), sort_values):
                box.fill(value)
        else:
            sort_op_box.wait_for(state="hidden", timeout=10_000)
    else:  # a scan shows neither the key nor the sort condition
        widget(page, "text", "Key").wait_for(state="hidden", timeout=10_000)
        sort_op_box.wait_for(state="hidden", timeout=10_000)
    widget(page, "text", "Filter").fill(filter_text)
    widget(page, "text", "Columns").fill(columns)


def run_panel(page, timeout_ms: int = 30_000) -> tuple[str, int | None]:
    """Click Run; wait until this Run's status and result are on screen. Returns the status
    line and the number of entries the result table reports (None when it shows no table)."""
    before = _status_and_marker(page)
    page.locator(f"{PANEL} button.widget-button", has_text="Run").click()
    page.wait_for_function(_RUN_DONE, arg=[STATUS, RESULT, before], timeout=timeout_ms)
    status = page.locator(STATUS).inner_text().strip()
    tables = page.locator(f"{RESULT} .dt-container")
    if not re.search(r"\d+\s*rows", status) or re.search(r"\b0\s*rows", status):
        return status, None
    # the table must render within 10 s, as a DataTable (not the static preview, not "Loading")
    page.locator(f"{RESULT} .dt-container table.dataTable tbody tr").first.wait_for(timeout=10_000)
    assert tables.count() == 1, f"{tables.count()} result tables after one Run; status {status!r}"
    info = page.locator(f"{RESULT} .dt-info")
    if not info.count():  # a result that fits one page has no paging controls and no info line
        return status, page.locator(f"{RESULT} .dt-scroll-body table.dataTable tbody tr").count()
    entries = re.search(r"of ([\d,]+) entr", info.first.inner_text())
    assert entries, info.first.inner_text()
    return status, int(entries.group(1).replace(",", ""))


def keep_running_kernel(page, notebook: str) -> None:
    """After a reload JupyterLab may ask which kernel the notebook should use (its own running
    kernel is one of the choices): answer as an operator would, with that running kernel."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".jp-Dialog").wait_for(timeout=3_000)
    except PlaywrightTimeout:
        return
    select = page.locator(".jp-Dialog select")
    running = [o for o in select.locator("option").all_inner_texts() if o.startswith(f"{notebook} (")]
    assert running, f"the kernel dialog offers no running kernel of {notebook}"
    select.select_option(label=running[0])
    page.locator(".jp-Dialog button", has_text="Select").click()
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)


def panel_status(page) -> str:
    return page.locator(STATUS).inner_text().strip()


def wait_for_status(page, pattern: str, timeout_ms: int = 30_000) -> str:
    page.wait_for_function("([sel, pattern]) => new RegExp(pattern).test("
                           "(document.querySelector(sel)?.innerText || '').trim())",
                           arg=[STATUS, pattern], timeout=timeout_ms)
    return panel_status(page)


EDIT = f"{PANEL} .xacct-edit"


def edit_box(page, kind: str, label: str):
    tag = {"text": "input", "textarea": "textarea", "dropdown": "select"}[kind]
    return page.locator(f"{EDIT} .widget-{kind}:has(label:text-is('{label}')) {tag}").first


def edit_attribute(page, attribute: str, value: str) -> None:
    """Pick an attribute, wait for its current value to come back in the Value box, type the new one."""
    from playwright.sync_api import expect

    value_box = edit_box(page, "textarea", "Value")
    edit_box(page, "text", "Attribute").fill(attribute)
    expect(value_box).not_to_have_value("", timeout=10_000)  # its current value, to edit
    value_box.fill(value)
    page.wait_for_timeout(300)  # the kernel takes the typed text (continuous_update)
