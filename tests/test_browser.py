"""The runbook notebooks in a real browser: JupyterLab + ipywidgets in Debian's Chromium, driven by
Playwright, against a sandbox of this test's own (a subprocess; see browser_support.py).

Screenshots for a reviewer land in artifacts/browser/ (gitignored); the few the docs' gallery shows
(GALLERY_SHOTS) are also written, shrunk to small palette PNGs, into docs/gallery/ (committed) when
XACCT_NB_GALLERY=1 (`make gallery`): an ordinary test run leaves the working tree as it was.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

import browser_support
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    EDIT,
    KERNEL_DISPLAY_NAME,
    KERNEL_READY,
    NOTEBOOK,
    ORDERS,
    PANEL,
    PARAMS,
    REPO,
    RESULT,
    STATUS,
    JupyterLab,
    SandboxProcess,
    assert_no_errors,
    assert_tables_rendered,
    edit_attribute,
    keep_running_kernel,
    open_notebook,
    run_all_cells,
    run_panel,
    set_controls,
    shot,
    widget,
)
from browser_support import wait_for_status as _wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CUSTOMER = "C0007"
GRANTED = ("orders", "customers", "payments", "ledger")  # params/local.yaml
UNGRANTED = "payroll"

if not Path(CHROMIUM).exists():
    pytest.skip(f"\n{'!' * 78}\n!!! BROWSER TEST SKIPPED: {CHROMIUM} does not exist.\n"
                "!!! Install Debian's chromium to run it (as root: `make browser-deps`,\n"
                "!!! or apt-get install chromium); Playwright's own browser download cannot work here.\n"
                f"{'!' * 78}", allow_module_level=True)

# the shared fixtures (browser_support.py): a sandbox with params/local.yaml applied + JupyterLab,
# one Chromium, a page per test
lab, browser, page = browser_support.lab, browser_support.browser, browser_support.page

# -- 03: the explorer panel ---------------------------------------------------------------------

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


# -- 03: item edit under ReadWriteUpdate/Full (issue 23) ------------------------------------------

def test_an_item_is_edited_and_a_stale_edit_is_refused(lab, page):
    sandbox, jupyter = lab
    jupyter.end_sessions()
    admin = sandbox.session("sandbox-main").client("dynamodb")
    key = {"customer_id": {"S": CUSTOMER}}
    original = admin.get_item(TableName="customers", Key=key)["Item"]
    open_notebook(page, jupyter, "03_assume_and_explore.ipynb")
    run_all_cells(page)
    panel = page.locator(PANEL)
    panel.wait_for(timeout=20_000)
    page.console_errors.clear()
    try:
        # orders is granted Read (params/local.yaml): its item view has no edit controls at all
        set_controls(page, "orders", "query", "", CUSTOMER, "", (), "", "")
        run_panel(page)
        widget(page, "dropdown", "Item").select_option(index=1)
        expect(page.locator(f"{PANEL} .xacct-item .xacct-item-tree")).to_be_visible(timeout=10_000)
        expect(page.locator(EDIT)).to_be_hidden()

        # customers is granted ReadWriteUpdate: pick the row, edit, review the request, confirm
        set_controls(page, "customers", "query", "", CUSTOMER, "", (), "", "")
        run_panel(page)
        widget(page, "dropdown", "Item").select_option(index=1)
        expect(page.locator(EDIT)).to_be_visible(timeout=10_000)
        expect(page.locator(EDIT)).to_contain_text("granted ReadWriteUpdate")
        edit_attribute(page, "tier", "diamond")
        page.locator(f"{EDIT} button.widget-button", has_text="Review").click()
        request = page.locator(f"{EDIT} .xacct-edit-request")
        expect(request.locator("textarea").first).to_have_value(re.compile(r'"UpdateExpression": "SET #n0 = :v0"'),
                                                                 timeout=10_000)
        expect(request.locator("textarea").first).to_have_value(re.compile(r'"ConditionExpression": "#n1 = :c0'))
        request.locator(".lm-TabBar-tab", has_text="AWS CLI").click()
        expect(request.locator("textarea").nth(1)).to_have_value(re.compile(r"^aws dynamodb update-item", re.M))
        page.locator(EDIT).scroll_into_view_if_needed()
        shot(panel, "03-edit-review")
        page.locator(f"{EDIT} button.widget-button", has_text="Confirm").click()
        status = _wait_for_status(page, "updated customers")
        assert "logged to" in status and "edits.jsonl" in status and "set tier = diamond" in status, status
        expect(page.locator(f"{PANEL} .xacct-item .xacct-item-tree")).to_contain_text('"diamond"', timeout=10_000)
        expect(page.locator(f"{RESULT} .dt-container").first).to_contain_text("diamond", timeout=10_000)
        stored = admin.get_item(TableName="customers", Key=key)["Item"]
        assert stored["tier"] == {"S": "diamond"} and stored["name"] == original["name"], stored
        expect(page.locator(f"{EDIT} .xacct-edit-message")).to_contain_text("updated: set tier = diamond")
        expect(request).to_be_hidden()  # nothing left on screen that Confirm could send again
        page.locator(EDIT).scroll_into_view_if_needed()
        shot(panel, "03-edit-confirmed")

        # another writer changes the item behind the panel's back: the next edit is refused
        admin.update_item(TableName="customers", Key=key, UpdateExpression="SET balance = :b",
                          ExpressionAttributeValues={":b": {"N": "1.00"}})
        edit_attribute(page, "name", "Changed by the panel")
        page.locator(f"{EDIT} button.widget-button", has_text="Review").click()
        expect(request).to_be_visible(timeout=10_000)
        page.wait_for_timeout(300)
        shown = page.locator(f"{PANEL} .xacct-item .xacct-item-tree").inner_text()
        page.locator(f"{EDIT} button.widget-button", has_text="Confirm").click()
        refused = page.locator(f"{EDIT} .xacct-edit-message .xacct-edit-error")
        expect(refused).to_have_text("the item changed since it was read — reload it and edit again",
                                     timeout=10_000)
        assert page.locator(f"{PANEL} .xacct-item .xacct-item-tree").inner_text() == shown
        assert admin.get_item(TableName="customers", Key=key)["Item"]["name"] == original["name"]
        page.locator(EDIT).scroll_into_view_if_needed()
        shot(panel, "03-edit-refused")
        assert_no_errors(page)
        widget_errors = [e for e in page.console_errors if "widget" in e.lower()]
        assert not widget_errors, widget_errors
    finally:
        admin.put_item(TableName="customers", Item=original)  # the next test sees the seeded item


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
