"""The runbook notebooks in a real browser: JupyterLab + ipywidgets in Debian's Chromium, driven by
Playwright, against a sandbox of this test's own (a subprocess; see browser_support.py).

Screenshots for a reviewer land in artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from browser_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
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
PARAMS = REPO / "params" / "local.yaml"
ORDERS = 1200          # 24 orders per customer (50 customers): more than one page of the result table
CUSTOMER = "C0007"
GRANTED = ("orders", "customers")  # params/local.yaml
UNGRANTED = "payments"

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
    except Exception as err:  # a screenshot must never hide the real failure
        print(f"screenshot {name} failed: {err}")
    return path


# -- 03: the explorer panel ---------------------------------------------------------------------

PANEL = f"{NOTEBOOK} .xacct-explorer"


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
    assert key.is_enabled(), "the Key box stays disabled after switching to Query"
    key.fill(CUSTOMER)
    page.locator(f"{PANEL} button.widget-button", has_text="Run").click()

    expected = expected_order_ids(sandbox, CUSTOMER)
    assert len(expected) == ORDERS // 50, expected
    status = page.locator(f"{PANEL} .widget-html").first  # the status line: the panel's first HTML
    # done when the status line says anything but "running…" (rows, or the error in red)
    page.wait_for_function("(sel) => { const t = (document.querySelector(sel)?.innerText || '').trim(); "
                           "return t !== '' && !t.startsWith('running'); }",
                           arg=f"{PANEL} .widget-html", timeout=30_000)
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
