"""The runbook notebooks in a real browser: JupyterLab + ipywidgets in Debian's Chromium, driven by
Playwright, against a sandbox of this test's own (a subprocess; see browser_support.py).

Screenshots for a reviewer land in artifacts/browser/ (gitignored); the few the docs' gallery shows
(GALLERY_SHOTS) are also written, shrunk to small palette PNGs, into docs/gallery/ (committed) when
XACCT_NB_GALLERY=1 (`make gallery`): an ordinary test run leaves the working tree as it was.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from browser_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    KERNEL_DISPLAY_NAME,
    KERNEL_READY,
    NOTEBOOK,
    REPO,
    JupyterLab,
    SandboxProcess,
    assert_no_errors,
    assert_tables_rendered,
    copy_notebooks,
    open_notebook,
    run_all_cells,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = REPO / "artifacts" / "browser"
GALLERY = REPO / "docs" / "gallery"  # docs/gallery.md shows these; tests/test_docs.py checks the page
GALLERY_SHOTS = ("03-panel-after", "03-error-after-result", "04-matrix", "03-record-html", "01-diagram")
PARAMS = REPO / "params" / "local.yaml"
ORDERS = 1200          # 24 orders per customer (50 customers): more than one page of the result table
CUSTOMER = "C0007"
GRANTED = ("orders", "customers", "payments", "ledger")  # params/local.yaml
UNGRANTED = "payroll"

if not Path(CHROMIUM).exists():
    pytest.skip(f"\n{'!' * 78}\n!!! BROWSER TEST SKIPPED: {CHROMIUM} does not exist.\n"
                "!!! Install Debian's chromium to run it (as root: `make browser-deps`,\n"
                "!!! or apt-get install chromium); Playwright's own browser download cannot work here.\n"
                f"{'!' * 78}", allow_module_level=True)


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


# -- 03: the explorer panel ---------------------------------------------------------------------

PANEL = f"{NOTEBOOK} .xacct-explorer"
STATUS = f"{PANEL} .xacct-status"


def widget(page, kind: str, label: str):
    """The input of an ipywidgets control by its description label (e.g. the 'Key' text box)."""
    box = page.locator(f"{PANEL} .widget-{kind}").filter(
        has=page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
    return box.locator("select" if kind == "dropdown" else "input").first


def result_rows(page, column: str) -> tuple[list[str], str]:
    """Values of one column of the result table over ALL its pages (clicking Next), + its info line."""
    table = page.locator(f"{PANEL} .widget-output table.dataTable")
    table.locator("tbody tr").first.wait_for(timeout=20_000)
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert column in headers, f"no column {column!r} in the result table; columns: {headers}"
    position = headers.index(column)
    container = page.locator(f"{PANEL} .widget-output .dt-container").first
    info = container.locator(".dt-info").first.inner_text()
    values: list[str] = []
    for _ in range(50):
        rows = table.locator("tbody tr")
        values += [rows.nth(i).locator("td").nth(position).inner_text().strip()
                   for i in range(rows.count())]
        nxt = container.locator("button.dt-paging-button.next").first
        if not nxt.count() or "disabled" in (nxt.get_attribute("class") or "") \
                or nxt.get_attribute("aria-disabled") == "true":
            break
        first_before = rows.first.inner_text()
        nxt.click()
        page.wait_for_function("([sel, before]) => { const r = document.querySelector(sel); "
                               "return r && r.innerText !== before; }",
                               arg=[f"{PANEL} .widget-output table.dataTable tbody tr", first_before],
                               timeout=10_000)
    return values, info


def expected_order_ids(sandbox: SandboxProcess, customer: str) -> list[str]:
    """What the sandbox holds, read as the main account's admin (not through the notebook's code)."""
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    ids, kwargs = [], {}
    while True:
        resp = ddb.query(TableName="orders", KeyConditionExpression="customer_id = :c",
                         ExpressionAttributeValues={":c": {"S": customer}}, **kwargs)
        ids += [item["order_id"]["S"] for item in resp["Items"]]
        if "LastEvaluatedKey" not in resp:
            return ids
        kwargs = {"ExclusiveStartKey": resp["LastEvaluatedKey"]}


def test_explorer_panel_queries_in_the_browser(lab, page):
    sandbox, jupyter = lab
    started = time.monotonic()
    open_notebook(page, jupyter, "03_assume_and_explore.ipynb")
    run_all_cells(page)
    assert_tables_rendered(page)
    panel = page.locator(PANEL)
    panel.wait_for(timeout=20_000)
    panel.scroll_into_view_if_needed()
    shot(panel, "03-panel-before")

    widget(page, "dropdown", "Table").select_option("orders")
    page.locator(f"{PANEL} .widget-toggle-buttons button", has_text="Query").click()
    key = widget(page, "text", "Key")
    # the kernel answers the toggle asynchronously: wait for the box (Playwright's retrying assertions)
    expect(key, "the Key box appears and is enabled after switching to Query").to_be_visible(timeout=10_000)
    expect(key).to_be_enabled(timeout=10_000)
    key.fill(CUSTOMER)
    page.locator(f"{PANEL} button.widget-button", has_text="Run").click()

    expected = expected_order_ids(sandbox, CUSTOMER)
    assert len(expected) == ORDERS // 50, expected
    status = page.locator(STATUS)  # the status line
    # done when the status line says anything but "running…" (rows, or the error in red)
    page.wait_for_function("(sel) => { const t = (document.querySelector(sel)?.innerText || '').trim(); "
                           "return t !== '' && !t.startsWith('running'); }",
                           arg=STATUS, timeout=30_000)
    assert_no_errors(page)
    status_text = status.inner_text()
    assert re.search(rf"\b{len(expected)}\s*rows\b", status_text), f"status line: {status_text!r}"
    assert "orders" in status_text, status_text

    assert_tables_rendered(page)
    table = page.locator(f"{PANEL} .widget-output table.dataTable")
    table.locator("tbody tr").first.wait_for(timeout=20_000)
    panel.scroll_into_view_if_needed()
    shot(panel, "03-panel-after")
    # paginated, not a wall of rows: the first page shows fewer rows than the result has
    first_page = table.locator("tbody tr").count()
    assert 0 < first_page < len(expected), f"{first_page} rows on the first page of {len(expected)}"

    shown, info = result_rows(page, "order_id")
    assert sorted(shown) == sorted(expected), (shown, expected)
    assert str(len(expected)) in info, info
    widget_errors = [e for e in page.console_errors if "widget" in e.lower()]
    assert not widget_errors, widget_errors
    print(f"03 in the browser: {time.monotonic() - started:.1f} s")


# -- 04: the access matrix ----------------------------------------------------------------------

def test_access_matrix_renders_all_pass(lab, page):
    _, jupyter = lab
    started = time.monotonic()
    open_notebook(page, jupyter, "04_verify_access.ipynb")
    run_all_cells(page)
    table = page.locator(f"{NOTEBOOK} .jp-OutputArea-output table").first
    table.wait_for(timeout=20_000)
    table.scroll_into_view_if_needed()
    shot(table, "04-matrix")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    for column in ("target", "check", "result"):
        assert column in headers, headers
    rows = [[c.strip() for c in row.locator("td").all_inner_texts()]
            for row in table.locator("tbody tr").all()]
    assert rows, "the access matrix has no rows"
    cells = [dict(zip(headers, row)) for row in rows]
    results = [c["result"] for c in cells]
    assert "FAIL" not in results, [c for c in cells if c["result"] == "FAIL"]
    checked = [c for c in cells if c["result"] != "SKIPPED"]
    assert checked and all(c["result"] == "PASS" for c in checked), cells
    targets = {c["target"] for c in cells}
    assert {*GRANTED, UNGRANTED, "role"} <= targets, targets
    # coloured: a PASS row is green on screen
    pass_cell = table.locator("tbody td", has_text=re.compile("^PASS$")).first
    colour = pass_cell.evaluate("e => getComputedStyle(e).backgroundColor")
    red, green, blue = map(int, re.findall(r"\d+", colour)[:3])
    assert green > red and green > blue, (red, green, blue)

    print(f"04 in the browser: {time.monotonic() - started:.1f} s, {len(checked)} PASS, "
          f"{len(cells) - len(checked)} SKIPPED")


# -- 03: many Runs, a reload, an error ----------------------------------------------------------

# Twelve consecutive Runs across both tables, scan/query, table/index, sort conditions, filters
# and columns: (table, mode, index, key, sort op, sort values, filter, columns).
RUNS = [
    ("orders", "scan", "", "", "", (), "", ""),
    ("customers", "scan", "", "", "", (), "", ""),
    ("orders", "query", "", "C0007", "", (), "", ""),
    ("orders", "query", "", "C0007", "begins_with", ("O0001",), "", ""),
    ("orders", "query", "by_status", "SHIPPED", "", (), "", ""),
    ("customers", "query", "", "C0003", "", (), "", ""),
    ("orders", "query", "by_status", "PENDING", "begins_with", ("2026-0",), "", "order_id, status"),
    ("orders", "scan", "", "", "", (), "quantity>10", ""),
    ("customers", "scan", "", "", "", (), "", "customer_id"),
    ("orders", "query", "", "C0012", "between", ("O000100", "O000900"), "", ""),
    ("orders", "scan", "by_status", "", "", (), "", ""),
    ("orders", "query", "", "C0042", ">", ("O000500",), "quantity<15", ""),
]
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


def test_twelve_runs_a_reload_and_an_error(lab, page):
    _, jupyter = lab
    jupyter.end_sessions()  # a kernel of its own, not the one an earlier test left running
    started = time.monotonic()
    open_notebook(page, jupyter, "03_assume_and_explore.ipynb")
    run_all_cells(page)
    page.locator(PANEL).wait_for(timeout=20_000)
    for n, run in enumerate(RUNS, 1):
        set_controls(page, *run)
        status, entries = run_panel(page)
        rows = int(re.search(r"(\d+)\s*rows", status).group(1))
        assert entries == rows, f"Run {n} {run}: status says {rows} rows, the table shows {entries}: {status!r}"
        assert run[0] in status and run[1] in status, f"Run {n}: the status line does not say what ran: {status!r}"
        if run[2]:
            assert f"index {run[2]}" in status, status
        if n in (1, 7, 12):
            page.locator(PANEL).scroll_into_view_if_needed()
            shot(page.locator(PANEL), f"03-run-{n:02d}")
    assert_tables_rendered(page)

    # An error after a result: the old table goes, the error is the only thing shown.
    set_controls(page, "orders", "query", "", "", "", (), "", "")
    status, entries = run_panel(page)
    assert entries is None and "partition key" in status, status
    assert page.locator(f"{RESULT} table").count() == 0, "an old result table is still shown under the error"
    shot(page.locator(PANEL), "03-error-after-result")

    # Save, reload the page: JupyterLab restores the panel from the live kernel, and its last
    # output (the error) and viewer with it; then the normal flow re-runs all cells.
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1000)
    page.reload()
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    keep_running_kernel(page, "03_assume_and_explore.ipynb")
    page.wait_for_function(KERNEL_READY, arg=[NOTEBOOK, KERNEL_DISPLAY_NAME], timeout=60_000, polling=200)
    assert_tables_rendered(page)
    page.wait_for_timeout(2000)  # widget views are restored from the kernel after the page
    # the ready-made read's progress bar (a widget) must still have its model after the reload
    assert "model not found" not in page.locator(NOTEBOOK).inner_text(), "a widget output lost its model"
    run_all_cells(page)
    assert_tables_rendered(page)
    page.locator(PANEL).wait_for(timeout=20_000)
    for run in (RUNS[2], RUNS[1]):
        set_controls(page, *run)
        status, entries = run_panel(page)
        assert entries == int(re.search(r"(\d+)\s*rows", status).group(1)), status
    assert_tables_rendered(page)
    page.locator(PANEL).scroll_into_view_if_needed()
    shot(page.locator(PANEL), "03-after-reload")
    print(f"03: {len(RUNS)} Runs, an error, a reload and 2 more Runs in {time.monotonic() - started:.1f} s")


# -- batch records: the HTML record offline, the notebook record untrusted ----------------------

def test_batch_records_stay_readable(lab, page):
    """papermill saves no widget state and nbconvert's HTML has no kernel: the record's tables are
    embedded DataTables. In the HTML record they render offline; the record opened in JupyterLab is
    untrusted (its scripts do not run), and each table shows its first page as plain HTML."""
    import shutil

    sandbox, jupyter = lab
    started = time.monotonic()
    out = sandbox.cli("run", "03", "--env", "local", "--html", "--runs-dir",
                      str(jupyter.notebook_dir.parent / "runs"), timeout=240)
    html = Path(re.search(r"html: (\S+)", out).group(1))

    page.goto(html.as_uri())
    page.locator("table.dataTable tbody tr").first.wait_for(timeout=20_000)
    assert "Loading ITables" not in page.inner_text("body")
    assert page.locator("table.dataTable").count() >= 3  # granted tables, the rows read, the summary
    shot(page, "03-record-html")

    shutil.copy(html.with_suffix(".ipynb"), jupyter.notebook_dir / "record-03.ipynb")
    jupyter.end_sessions()
    open_notebook(page, jupyter, "record-03.ipynb")
    outputs = f"{NOTEBOOK} .jp-OutputArea-output"
    page.locator(f"{outputs} table tbody tr").first.wait_for(timeout=20_000)
    assert page.locator(f"{outputs} table.dataTable").count() == 0, "scripts ran in an untrusted notebook?"
    visible_rows = page.locator(f"{outputs} table tbody tr:visible").count()
    assert visible_rows >= 10, f"the untrusted record shows {visible_rows} table rows"
    assert_tables_rendered(page)  # nothing visible says "Loading ITables"
    page.locator(f"{outputs} table:visible").nth(1).scroll_into_view_if_needed()
    shot(page, "03-record-untrusted")
    print(f"records: HTML and untrusted notebook checked in {time.monotonic() - started:.1f} s")


# -- the tracked notebooks as JupyterLab sees them ------------------------------------------------

@pytest.fixture(scope="module")
def plain_lab(tmp_path_factory):
    """JupyterLab (no sandbox) on byte-identical copies of the tracked notebooks."""
    import shutil

    home = tmp_path_factory.mktemp("plain-lab")
    folder = home / "notebooks"
    shutil.copytree(REPO / "notebooks", folder)
    jupyter = JupyterLab(home / "jupyter", folder, env={}, log=home / "jupyter.log")
    try:
        yield jupyter
    finally:
        jupyter.stop()


def test_opening_and_saving_a_tracked_notebook_changes_nothing(plain_lab, page):
    """The tracked notebooks carry what JupyterLab writes (language_info as the kernel reports
    it): opening one marks nothing modified, and saving it writes the same bytes."""
    from xacct_nb.runbook import NOTEBOOKS

    for name in NOTEBOOKS:
        plain_lab.end_sessions()
        path = plain_lab.notebook_dir / f"{name}.ipynb"
        committed = (REPO / "notebooks" / f"{name}.ipynb").read_text()
        open_notebook(page, plain_lab, f"{name}.ipynb")
        time.sleep(1.0)  # the kernel's info has arrived (status bar idle); let the model settle
        dirty = page.locator(f"#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty, {NOTEBOOK}.jp-mod-dirty")
        assert dirty.count() == 0, f"{name}: JupyterLab marks the tracked notebook modified on opening"
        page.locator(f"{NOTEBOOK} .jp-Notebook").click()
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1500)
        assert path.read_text() == committed, f"{name}: saving it from JupyterLab rewrote the file"


def _set_confirm_and_save(page, lab: JupyterLab, name: str, confirm: str) -> None:
    """As an operator does: open the notebook, type confirm into its parameters cell, Ctrl+S."""
    open_notebook(page, lab, name)
    cells = page.locator(f"{NOTEBOOK} .jp-CodeCell")
    texts = cells.all_inner_texts()
    cell = cells.nth(next(i for i, t in enumerate(texts) if 'confirm: str = ""' in t))
    line = cell.locator(".cm-line", has_text="confirm: str").first
    line.click()
    page.keyboard.press("End")
    text = line.inner_text()
    position = text.index('""') + 1
    for _ in range(len(text) - position):
        page.keyboard.press("ArrowLeft")
    page.keyboard.type(confirm)
    expect(cell.locator(".cm-line", has_text=f'confirm: str = "{confirm}"')).to_have_count(1)
    page.keyboard.press("Control+s")
    path = lab.notebook_dir / name
    deadline = time.monotonic() + 15
    while f'confirm: str = \\"{confirm}\\"' not in path.read_text():
        assert time.monotonic() < deadline, f"{name} was not saved"
        time.sleep(0.25)


def test_a_lab_session_that_saves_confirms_leaves_git_clean_and_batch_runs_dry(page, sandbox, tmp_path):
    """Issue 19's 'done when': confirm set and saved in 01, 02 and 05 in JupyterLab (the lab's
    per-user working copies); `git status` stays clean and the next `xacct-nb run-all --env local`
    is a dry run (exit 3) whose records show confirm ""."""
    import json
    import shutil
    import subprocess
    import sys

    from xacct_nb.cli_support import lab_workspace

    checkout = tmp_path / "checkout"
    for folder in ("notebooks", "params"):
        shutil.copytree(REPO / folder, checkout / folder)
    shutil.copy(REPO / ".gitignore", checkout / ".gitignore")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "checkout"]):
        subprocess.run([*git, *args], cwd=checkout, check=True)
    workspace = lab_workspace(checkout / "notebooks", user="operator", log=lambda _line: None)
    jupyter = JupyterLab(tmp_path / "jupyter", workspace, env={}, log=tmp_path / "jupyter.log")
    try:
        for name, confirm in (("01_main_account_setup.ipynb", "feb182ab"),
                              ("02_consumer_account_setup.ipynb", "a54a73dc"), ("05_teardown.ipynb", "local")):
            _set_confirm_and_save(page, jupyter, name, confirm)
            jupyter.end_sessions()
    finally:
        jupyter.stop()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=checkout,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status
    runs = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "run-all", "--env", "local", "--runs-dir", str(runs)],
                          cwd=checkout, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    sidecars = sorted((runs / "local").glob("*.json"))
    assert len(sidecars) == 2
    for path in sidecars:
        side = json.loads(path.read_text())
        assert side["parameters"]["confirm"] == "" and side["source"]["working_copy_differs"] is False


# -- 03: switching, Load more, show code, item view, history, Enter (issue 23) -------------------

def _status(page) -> str:
    return page.locator(STATUS).inner_text().strip()


def _wait_for_status(page, pattern: str, timeout_ms: int = 30_000) -> str:
    page.wait_for_function("([sel, pattern]) => new RegExp(pattern).test("
                           "(document.querySelector(sel)?.innerText || '').trim())",
                           arg=[STATUS, pattern], timeout=timeout_ms)
    return _status(page)


def test_explorer_follows_switches_loads_more_shows_code_items_and_history(lab, page):
    _, jupyter = lab
    jupyter.end_sessions()
    started = time.monotonic()
    open_notebook(page, jupyter, "03_assume_and_explore.ipynb")
    run_all_cells(page)
    panel = page.locator(PANEL)
    panel.wait_for(timeout=20_000)
    # An earlier test may have saved this notebook with its widget outputs: opened with a new
    # kernel, those say "model not found" until re-run (Jupyter's way). Count only from here.
    page.console_errors.clear()

    # A query with a sort range, then a switch to the index: key and sort go, and the line says so.
    set_controls(page, "orders", "query", "", CUSTOMER, "between", ("O000100", "O000500"), "", "")
    status, _ = run_panel(page)
    assert "sort between O000100 O000500" in status, status
    widget(page, "dropdown", "Index").select_option(label="by_status")
    status = _wait_for_status(page, "switched to orders index by_status")
    assert "reset key, sort" in status, status
    expect(widget(page, "text", "Key")).to_have_value("", timeout=10_000)
    panel.scroll_into_view_if_needed()
    shot(panel, "03-switched-index")

    # An attribute the table does not have is flagged before the Run.
    widget(page, "text", "Filter").fill("quantiy>5")
    warning = page.locator(f"{PANEL} .xacct-warning")
    expect(warning).to_contain_text("quantiy", timeout=10_000)
    shot(panel, "03-unknown-attribute")
    widget(page, "text", "Filter").fill("")
    expect(warning).to_have_text("", timeout=10_000)

    # Enter in the Key box runs.
    key = widget(page, "text", "Key")
    key.fill("SHIPPED")
    key.press("Enter")
    status = _wait_for_status(page, r"\d+\s*rows")
    assert "index by_status" in status and "key SHIPPED" in status, status

    # A scan cut by Max rows, then Load more: twice the rows, the line says so.
    set_controls(page, "orders", "scan", "", "", "", (), "", "")
    page.locator(f"{PANEL} .widget-text:has(label:text-is('Max rows')) input").fill("10")
    page.wait_for_timeout(300)  # the kernel takes the typed number (continuous_update)
    status, entries = run_panel(page)
    assert entries == 10 and "partial" in status and "Load more" in status, status
    page.locator(f"{PANEL} button.widget-button", has_text="Load more").click()
    status = _wait_for_status(page, r"Run \+ 1 Load more")
    assert re.search(r"\b20\s*rows", status), status
    page.locator(f"{RESULT} .dt-container table.dataTable tbody tr").first.wait_for(timeout=10_000)
    shot(panel, "03-load-more")

    # Export the 20 rows as JSONL into the exports folder (outside runs/).
    page.locator(f"{PANEL} .widget-dropdown select").filter(has=page.locator("option", has_text="JSONL")) \
        .select_option(label="JSONL")
    page.locator(f"{PANEL} button.widget-button", has_text="Export").click()
    status = _wait_for_status(page, "exported 20 rows to")
    exported = Path(re.search(r"exported 20 rows to (\S+\.jsonl)", status).group(1))
    assert len(exported.read_text().splitlines()) == 20 and "runs" not in exported.parts, exported
    shot(panel, "03-exported")

    # Show code: four tabs, the Python one names the API call.
    page.locator(f"{PANEL} button.widget-toggle-button", has_text="Show code").click()
    code = page.locator(f"{PANEL} .xacct-code")
    expect(code).to_be_visible(timeout=10_000)
    expect(code.locator("textarea").first).to_have_value(re.compile(r"RemoteTable\("), timeout=10_000)
    tabs = code.locator(".lm-TabBar-tab").all_inner_texts()
    assert [t.strip() for t in tabs] == ["Python", "boto3", "AWS CLI", "PartiQL"], tabs
    code.scroll_into_view_if_needed()
    shot(panel, "03-show-code")
    page.locator(f"{PANEL} button.widget-toggle-button", has_text="Show code").click()

    # Item view: pick a row, see its whole item with DynamoDB types.
    widget(page, "dropdown", "Item").select_option(index=1)
    item = page.locator(f"{PANEL} .xacct-item")
    expect(item.locator(".xacct-item-tree")).to_be_visible(timeout=10_000)
    types = set(item.locator(".xacct-type").all_inner_texts())
    assert {"S", "N", "M", "L", "BOOL"} <= types, types
    item.scroll_into_view_if_needed()
    shot(panel, "03-item-view")

    # History: the first Run of this test, clicked, puts its inputs back.
    history = page.locator(f"{PANEL} .widget-select select")
    labels = history.locator("option").all_text_contents()
    # the Select shows spaces as no-break spaces
    firsts = [label for label in labels if "sort between O000100 O000500" in label.replace("\xa0", " ")]
    assert firsts, labels
    first = firsts[-1]  # newest first: the last is the first Run
    history.select_option(label=first)
    _wait_for_status(page, "restored the inputs of")
    expect(widget(page, "text", "Key")).to_have_value(CUSTOMER, timeout=10_000)
    expect(widget(page, "dropdown", "Index")).to_have_value("(table)", timeout=10_000)
    history.scroll_into_view_if_needed()
    shot(panel, "03-history-restored")
    status, entries = run_panel(page)
    assert "sort between O000100 O000500" in status and entries, status

    # Save it by name, switch away, load it back from Saved.
    page.locator(f"{PANEL} input[placeholder='name for the shown Run']").fill("c7 range")
    page.wait_for_timeout(300)
    page.locator(f"{PANEL} button.widget-button", has_text="Save").click()
    _wait_for_status(page, "saved .* as c7 range")
    set_controls(page, "customers", "scan", "", "", "", (), "", "")
    widget(page, "dropdown", "Saved").select_option(label="c7 range")
    _wait_for_status(page, "loaded saved query c7 range")
    expect(widget(page, "text", "Key")).to_have_value(CUSTOMER, timeout=10_000)
    shot(panel, "03-saved-query-loaded")
    status, entries = run_panel(page)
    assert "query orders" in status and "sort between O000100 O000500" in status and entries, status

    # PartiQL mode: a SELECT box; the result is a Run like any other.
    page.locator(f"{PANEL} .widget-toggle-buttons button", has_text="PartiQL").click()
    statement = page.locator(f"{PANEL} .widget-textarea:has(label:text-is('SELECT')) textarea")
    expect(statement).to_be_visible(timeout=10_000)
    statement.fill(f'SELECT * FROM "orders" WHERE "customer_id" = \'{CUSTOMER}\'')
    page.wait_for_timeout(300)
    status, entries = run_panel(page)
    assert status.startswith(f"{ORDERS // 50} rows") or re.search(rf"\b{ORDERS // 50}\s*rows", status), status
    assert "PartiQL SELECT" in status and "complete" in status and entries == ORDERS // 50, status
    shot(panel, "03-partiql")
    assert_no_errors(page)
    widget_errors = [e for e in page.console_errors if "widget" in e.lower()]
    assert not widget_errors, widget_errors
    print(f"03 issue-23 flow in the browser: {time.monotonic() - started:.1f} s")


# -- 01: the grant as a picture ---------------------------------------------------------------------

def _svg_of(image) -> str:
    """The SVG an <img src="data:image/svg+xml..."> shows (JupyterLab's Mermaid and nbconvert's SVG
    output both draw that way), decoded."""
    import base64
    from urllib.parse import unquote

    src = image.get_attribute("src") or ""
    head, _, data = src.partition(",")
    assert head.startswith("data:image/svg+xml"), src[:80]
    return base64.b64decode(data).decode() if head.endswith(";base64") else unquote(data)


def test_plan_diagram_renders_in_jupyterlab_and_in_the_html_record(lab, page):
    """Notebook 01 draws the grant with JupyterLab's own Mermaid (a table the plan would add is
    highlighted), and the HTML record of `xacct-nb run 01` shows it as an SVG, offline."""
    import shutil

    import yaml

    sandbox, jupyter = lab
    started = time.monotonic()
    spec = yaml.safe_load(PARAMS.read_text())
    spec["table_access_list"].append({"table_name": UNGRANTED, "access_type": "Read"})  # a plan with a change
    params = jupyter.notebook_dir.parent / "params" / "diagram.yaml"
    params.write_text(yaml.safe_dump(spec))
    notebook = jupyter.notebook_dir / "01_main_account_setup.ipynb"
    notebook.write_text(notebook.read_text().replace("../params/local.yaml", "../params/diagram.yaml"))

    open_notebook(page, jupyter, "01_main_account_setup.ipynb")
    run_all_cells(page)
    figure = page.locator(f"{NOTEBOOK} .jp-RenderedMermaid").first
    figure.wait_for(timeout=30_000)
    figure.scroll_into_view_if_needed()
    shot(figure.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]"), "01-diagram")
    svg = figure.locator("svg").first if figure.locator("svg").count() else None
    drawn = svg.inner_html() if svg is not None else _svg_of(figure.locator("img").first)
    for text in (*GRANTED, UNGRANTED, "Read", "ReadWriteUpdate", "sts:AssumeRole", "kms:Decrypt via DynamoDB"):
        assert text in drawn, f"{text!r} is not in the flowchart JupyterLab drew"
    assert "#c6efce" in drawn  # the policy of payroll, created by this plan, is green
    legend = page.locator(f"{NOTEBOOK} .jp-RenderedMarkdown em", has_text="green: created by this plan")
    expect(legend.first).to_be_visible()
    lab_seconds = time.monotonic() - started

    out = sandbox.cli("run", "01", "--env", "local", "-p", f"params_file={params}", "--html", "--runs-dir",
                      str(jupyter.notebook_dir.parent / "runs"), timeout=240)
    html = Path(re.search(r"html: (\S+)", out).group(1))
    page.goto(html.as_uri())
    (ARTIFACTS / "01-record.html").unlink(missing_ok=True)  # records are read-only: a copy too
    shutil.copy(html, ARTIFACTS / "01-record.html")  # for a reviewer: the page as written
    image = page.locator("div.jp-RenderedSVG[data-mime-type='image/svg+xml'] > img").first
    image.wait_for(state="attached", timeout=20_000)
    image.scroll_into_view_if_needed()
    assert image.evaluate("i => i.complete && i.naturalWidth > 0"), "the record's diagram did not load"
    shot(image, "01-record-diagram")
    drawn = _svg_of(image)
    for text in (*GRANTED, UNGRANTED, "Read", "ReadWriteUpdate", "sts:AssumeRole", "created by this plan"):
        assert text in drawn, f"{text!r} is not in the record's diagram"
    assert "#c6efce" in drawn
    assert page.locator("pre.mermaid").count() == 0  # nothing waits for mermaid.js from a CDN
    print(f"01 diagram: JupyterLab {lab_seconds:.1f} s; record {html.stat().st_size / 1024:.0f} KiB "
          f"(diagram {len(drawn) / 1024:.1f} KiB) in {time.monotonic() - started - lab_seconds:.1f} s")
