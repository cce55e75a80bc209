"""Issue 23's acceptance session: a new operator does 30 Runs in notebook 03 in Chromium.

Every seeded table granted by params/local.yaml (orders with its by_status index, customers,
payments with number keys, the KMS-encrypted ledger); table and index switches, a filter, a
column selection, a Load more, PartiQL, a history restore, a saved query (also run with
`xacct-nb query --saved`), an item edit (confirmed, then found by a later Run), a page reload
mid-session, a Run on the never-granted payroll and
a bad input. After each Run the status line and the result table on screen are checked against
an independent read of the same thing with boto3 as the main account's admin (not through
xacct-nb): the keys exactly, `partial` exactly when the row budget stopped the read, and what
the status line says ran is what the boxes held — never a stale, partial-unmarked or silently
wrong result.

Shared fixtures and page helpers are in browser_support.py (as for tests/test_browser.py).
Screenshots: artifacts/browser/acceptance-*.png.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

import browser_support
from browser_support import (
    CHROMIUM,
    EDIT,
    KERNEL_DISPLAY_NAME,
    KERNEL_READY,
    NOTEBOOK,
    ORDERS,
    PANEL,
    RESULT,
    STATUS,
    SandboxProcess,
    assert_no_errors,
    edit_attribute,
    keep_running_kernel,
    open_notebook,
    run_all_cells,
    run_panel,
    set_controls,
    shot,
    wait_for_status,
    widget,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

if not Path(CHROMIUM).exists():
    pytest.skip(f"BROWSER TEST SKIPPED: {CHROMIUM} does not exist (apt-get install chromium)",
                allow_module_level=True)

lab, browser, page = browser_support.lab, browser_support.browser, browser_support.page

KEYS = {"orders": ("customer_id", "order_id"), "customers": ("customer_id",),
        "payments": ("payment_id",), "ledger": ("entry_id",)}


# -- the independent read: boto3 as the tables' owner, filters applied here in Python -------------

def _plain(value: dict[str, Any]) -> str:
    """A key or attribute value as the panel shows it (text, or the number as written)."""
    (kind, raw), = value.items()
    return str(raw)


@dataclass
class Truth:
    """What the sandbox holds, read without xacct-nb."""

    sandbox: SandboxProcess
    _client: Any = field(default=None, init=False)

    @property
    def ddb(self):
        if self._client is None:
            self._client = self.sandbox.session("sandbox-main").client("dynamodb")
        return self._client

    def _pages(self, operation: str, **request) -> list[dict]:
        items: list[dict] = []
        while True:
            reply = getattr(self.ddb, operation)(**request)
            items += reply["Items"]
            if "LastEvaluatedKey" not in reply:
                return items
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def scan(self, table: str, index: str | None = None) -> list[dict]:
        """Every item in the order a Scan returns them (the order a budget cuts in)."""
        return self._pages("scan", TableName=table, **({"IndexName": index} if index else {}))

    def query(self, table: str, name: str, value: dict, index: str | None = None) -> list[dict]:
        return self._pages("query", TableName=table, KeyConditionExpression="#k = :v",
                           ExpressionAttributeNames={"#k": name}, ExpressionAttributeValues={":v": value},
                           **({"IndexName": index} if index else {}))

    def keys(self, table: str, items: list[dict], limit: int | None = None,
             where: Callable[[dict], bool] = lambda item: True) -> tuple[list[tuple[str, ...]], bool]:
        """(the keys of the first `limit` items that pass `where`, whether more passed: partial)."""
        passing = [item for item in items if where(item)]
        cut = passing[:limit] if limit else passing
        return [tuple(_plain(item[k]) for k in KEYS[table]) for item in cut], len(passing) > len(cut)


def num(item: dict, name: str) -> float:
    return float(item[name]["N"]) if name in item else float("nan")


def text(item: dict, name: str) -> str | None:
    return item[name]["S"] if name in item else None


# -- what the screen shows ---------------------------------------------------------------------------

_TABLE_PAGE = """([result]) => {
    const root = document.querySelector(result);
    const heads = [...root.querySelectorAll('.dt-scroll-head thead th')].map(th => th.innerText.trim());
    const rows = [...root.querySelectorAll('.dt-scroll-body tbody tr')]
        .map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()));
    const next = root.querySelector('button.dt-paging-button.next');
    const more = !!next && !next.classList.contains('disabled') && next.getAttribute('aria-disabled') !== 'true';
    return [heads, rows, more];
}"""


def shown_table(page) -> tuple[list[str], list[list[str]]]:
    """The result table on screen: its headers and every row (100 per page, through the pages)."""
    length = page.locator(f"{RESULT} .dt-length select")
    if length.count() and length.input_value() != "100":
        length.select_option("100")
        page.wait_for_timeout(150)
    rows: list[list[str]] = []
    for _ in range(20):
        heads, page_rows, more = page.evaluate(_TABLE_PAGE, [RESULT])
        rows += page_rows
        if not more:
            return heads, rows
        page.locator(f"{RESULT} button.dt-paging-button.next").first.click()
        page.wait_for_function("([sel, first]) => { const tr = document.querySelector(sel); "
                               "return tr && JSON.stringify([...tr.querySelectorAll('td')]"
                               ".map(td => td.innerText.trim())) !== first; }",
                               arg=[f"{RESULT} .dt-scroll-body tbody tr",
                                    json.dumps(page_rows[0], separators=(",", ":"), ensure_ascii=False)],
                               timeout=10_000)
    raise AssertionError("more than 2,000 rows on screen")


@dataclass
class Session:
    """The operator's session: counts the Runs, checks each one, takes the screenshots."""

    page: Any
    truth: Truth
    runs: int = 0
    log: list[str] = field(default_factory=list)

    def limit(self, rows: int) -> None:
        box = self.page.locator(f"{PANEL} .widget-text:has(label:text-is('Max rows')) input")
        box.fill(str(rows))
        self.page.wait_for_timeout(250)  # continuous_update: the kernel has the number

    def run(self, click: Callable[[], None] | None = None) -> str:
        """Run (or `click`, e.g. Enter in a box); the status line once this Run's result is shown."""
        self.runs += 1
        if click is None:
            status, _ = run_panel(self.page)
        else:
            before = self.page.evaluate("(sel) => document.querySelector(sel)?.innerText || ''", STATUS)
            click()
            self.page.wait_for_function(
                "([sel, before]) => { const t = (document.querySelector(sel)?.innerText || '').trim(); "
                "return t && t !== before.trim() && !t.startsWith('running'); }",
                arg=[STATUS, before], timeout=30_000)
            status = self.page.locator(STATUS).inner_text().strip()
        self.log.append(f"Run {self.runs}: {status[:160]}")
        return status

    def check(self, status: str, table: str, expected: tuple[list[tuple[str, ...]], bool], *,
              says: tuple[str, ...] = (), columns: set[str] | None = None) -> None:
        """This Run's status line and table against the independent read."""
        keys, partial = expected
        n = self.runs
        assert keys, f"Run {n}: the independent read found nothing — a test with no teeth"
        assert self.page.locator(f"{PANEL} .xacct-error").count() == 0, f"Run {n}: an error: {status!r}"
        head = re.match(r"(\d+)\s*rows × (\d+) columns — (.*?) — \d+ pages?", status)
        assert head, f"Run {n}: not a result line: {status!r}"
        assert int(head.group(1)) == len(keys), f"Run {n}: {head.group(1)} rows, expected {len(keys)}: {status!r}"
        for words in says:  # what ran is what the boxes held: the result belongs to these inputs
            assert words in head.group(3), f"Run {n}: the line does not say {words!r}: {status!r}"
        assert ("partial" in status) is partial, f"Run {n}: partial should be {partial}: {status!r}"
        assert ("complete" in status) is not partial, f"Run {n}: {status!r}"
        # the new table (the old one left with the outputs it was in) once DataTables drew it
        self.page.locator(f"{RESULT} .dt-scroll-body tbody tr").first.wait_for(timeout=10_000)
        heads, rows = shown_table(self.page)
        assert len(rows) == len(keys), f"Run {n}: {len(rows)} rows on screen, expected {len(keys)}"
        assert int(head.group(2)) == len(heads), f"Run {n}: {len(heads)} columns on screen: {status!r}"
        positions = [heads.index(k) for k in KEYS[table]]
        on_screen = sorted(tuple(row[p] for p in positions) for row in rows)
        assert on_screen == sorted(keys), f"Run {n}: the keys on screen differ from the table's: {status!r}"
        if columns is not None:
            assert set(heads) == columns, f"Run {n}: columns {heads}, expected {sorted(columns)}"

    def check_error(self, status: str, *needles: str) -> None:
        n = self.runs
        errors = self.page.locator(f"{PANEL} .xacct-status .xacct-error")
        assert errors.count() == 1, f"Run {n}: expected one red line: {status!r}"
        assert "\n" not in status.strip() and all(w in status for w in needles), f"Run {n}: {status!r}"
        assert self.page.locator(f"{RESULT} table").count() == 0, f"Run {n}: a table under the error"

    def shot(self, name: str) -> None:
        self.page.locator(PANEL).scroll_into_view_if_needed()
        shot(self.page.locator(PANEL), f"acceptance-{name}")


def scroll_to_panel(page, timeout_s: float = 30) -> None:
    """After a reload the notebook opens at its top and JupyterLab draws cells as they scroll
    into view: scroll down, as an operator does, until the restored panel is there."""
    deadline = time.monotonic() + timeout_s
    panel = page.locator(PANEL)
    while not (panel.count() and panel.first.is_visible()):
        assert time.monotonic() < deadline, "the panel did not come back after the reload"
        page.evaluate("(nb) => { const el = document.querySelector(nb + ' .jp-WindowedPanel-outer')"
                      " || document.querySelector(nb + ' .jp-Notebook'); if (el) el.scrollTop += 500; }",
                      NOTEBOOK)
        page.wait_for_timeout(300)
    panel.first.scroll_into_view_if_needed()


def test_thirty_runs_of_a_new_operator(lab, page):
    sandbox, jupyter = lab
    jupyter.end_sessions()
    started = time.monotonic()
    truth = Truth(sandbox)
    orders, customers = truth.scan("orders"), truth.scan("customers")
    payments, ledger = truth.scan("payments"), truth.scan("ledger")
    assert (len(orders), len(customers), len(payments), len(ledger)) == (ORDERS, 50, 20, 30)

    open_notebook(page, jupyter, "03_assume_and_explore.ipynb")
    run_all_cells(page)
    page.locator(PANEL).wait_for(timeout=20_000)
    page.console_errors.clear()
    op = Session(page, truth)

    # 1-4: a bounded scan of every granted table; orders is cut by Max rows, then Load more
    set_controls(page, "orders", "scan", "", "", "", (), "", "")
    op.limit(50)
    op.check(op.run(), "orders", truth.keys("orders", orders, 50), says=("scan orders",))
    op.shot("01-orders-partial")
    page.locator(f"{PANEL} button.widget-button", has_text="Load more").click()
    status = wait_for_status(page, r"Run \+ 1 Load more")
    op.check(status, "orders", truth.keys("orders", orders, 100), says=("scan orders",))
    op.limit(100)
    for table, items in (("customers", customers), ("payments", payments), ("ledger", ledger)):
        set_controls(page, table, "scan", "", "", "", (), "", "")
        op.check(op.run(), table, truth.keys(table, items), says=(f"scan {table}",))

    # 5-8: queries; a sort range; a switch to the index resets key and sort; a column selection
    c7 = truth.query("orders", "customer_id", {"S": "C0007"})
    set_controls(page, "orders", "query", "", "C0007", "", (), "", "")
    op.check(op.run(), "orders", truth.keys("orders", c7), says=("query orders", "key C0007"))
    set_controls(page, "orders", "query", "", "C0007", "between", ("O000100", "O000500"), "", "")
    c7_range = truth.keys("orders", c7, where=lambda i: "O000100" <= text(i, "order_id") <= "O000500")
    op.check(op.run(), "orders", c7_range, says=("key C0007", "sort between O000100 O000500"))
    widget(page, "dropdown", "Index").select_option(label="by_status")
    assert "reset key, sort" in wait_for_status(page, "switched to orders index by_status")
    expect(widget(page, "text", "Key")).to_have_value("", timeout=10_000)
    op.shot("07-index-switch")
    widget(page, "text", "Key").fill("SHIPPED")
    op.limit(500)
    shipped = truth.query("orders", "status", {"S": "SHIPPED"}, index="by_status")
    op.check(op.run(), "orders", truth.keys("orders", shipped),
             says=("query orders", "index by_status", "key SHIPPED"))
    set_controls(page, "orders", "query", "by_status", "PENDING", "begins_with", ("2026-05",), "",
                 "order_id, status")
    pending = truth.query("orders", "status", {"S": "PENDING"}, index="by_status")
    op.check(op.run(), "orders",
             truth.keys("orders", pending, where=lambda i: text(i, "created_at").startswith("2026-05")),
             says=("key PENDING", "sort begins_with 2026-05", "columns order_id, status"),
             columns={"customer_id", "order_id", "status", "created_at"})

    # 9-10: a filter cut by the budget; a table switch drops the filter customers cannot have
    set_controls(page, "orders", "scan", "", "", "", (), "quantity>10", "")
    op.limit(50)
    op.check(op.run(), "orders", truth.keys("orders", orders, 50, where=lambda i: num(i, "quantity") > 10),
             says=("scan orders", "filter quantity>10"))
    widget(page, "dropdown", "Table").select_option("customers")
    assert "reset filter" in wait_for_status(page, "switched to customers")
    expect(widget(page, "text", "Filter")).to_have_value("", timeout=10_000)
    widget(page, "text", "Columns").fill("customer_id, tier")
    op.limit(100)
    op.check(op.run(), "customers", truth.keys("customers", customers),
             says=("scan customers", "columns customer_id, tier"), columns={"customer_id", "tier"})

    # 11-15: keys of every type; number keys typed by the key; the KMS table
    set_controls(page, "customers", "query", "", "C0003", "", (), "", "")
    op.check(op.run(), "customers",
             truth.keys("customers", customers, where=lambda i: text(i, "customer_id") == "C0003"),
             says=("query customers", "key C0003"))
    set_controls(page, "payments", "query", "", "1007", "", (), "", "")
    op.check(op.run(), "payments", truth.keys("payments", payments, where=lambda i: num(i, "payment_id") == 1007),
             says=("query payments", "key 1007"))
    set_controls(page, "payments", "scan", "", "", "", (), "amount>450", "")
    op.check(op.run(), "payments", truth.keys("payments", payments, where=lambda i: num(i, "amount") > 450),
             says=("scan payments", "filter amount>450"))
    set_controls(page, "ledger", "query", "", "L00005", "", (), "", "")
    op.check(op.run(), "ledger", truth.keys("ledger", ledger, where=lambda i: text(i, "entry_id") == "L00005"),
             says=("query ledger", "key L00005"))
    set_controls(page, "ledger", "scan", "", "", "", (), "account=ACC-03", "")
    op.check(op.run(), "ledger", truth.keys("ledger", ledger, where=lambda i: text(i, "account") == "ACC-03"),
             says=("scan ledger", "filter account=ACC-03"))

    # 16-17: a sort condition with a filter; a scan of the index cut by the budget
    c12 = truth.query("orders", "customer_id", {"S": "C0012"})
    set_controls(page, "orders", "query", "", "C0012", ">", ("O000500",), "quantity<15", "")
    op.check(op.run(), "orders", truth.keys("orders", c12, where=lambda i: text(i, "order_id") > "O000500"
                                            and num(i, "quantity") < 15),
             says=("key C0012", "sort > O000500", "filter quantity<15"))
    set_controls(page, "orders", "scan", "by_status", "", "", (), "", "")
    op.limit(40)
    op.check(op.run(), "orders", truth.keys("orders", truth.scan("orders", "by_status"), 40),
             says=("scan orders", "index by_status"))

    # 18-20: PartiQL — a SELECT on orders, one on the KMS ledger, one on the never-granted payroll
    page.locator(f"{PANEL} .widget-toggle-buttons button", has_text="PartiQL").click()
    statement = page.locator(f"{PANEL} .widget-textarea:has(label:text-is('SELECT')) textarea")
    expect(statement).to_be_visible(timeout=10_000)
    op.limit(100)

    def select(sql: str) -> str:
        statement.fill(sql)
        page.wait_for_timeout(250)
        return op.run()

    c42 = truth.query("orders", "customer_id", {"S": "C0042"})
    op.check(select("SELECT * FROM \"orders\" WHERE \"customer_id\" = 'C0042'"), "orders",
             truth.keys("orders", c42), says=("PartiQL SELECT", "C0042"))
    op.check(select('SELECT * FROM "ledger"'), "ledger", truth.keys("ledger", ledger),
             says=('PartiQL SELECT * FROM "ledger"',))
    op.check_error(select('SELECT * FROM "payroll"'), "payroll")
    op.shot("20-payroll-denied")

    # 21-22: a good Run after the red line; then a bad input: one red line, nothing else changes
    set_controls(page, "orders", "scan", "", "", "", (), "express=true", "")
    op.limit(30)
    op.check(op.run(), "orders", truth.keys("orders", orders, 30, where=lambda i: i.get("express") == {"BOOL": True}),
             says=("filter express=true",))
    widget(page, "text", "Filter").fill("quantity >> 5")
    op.check_error(op.run(), "Filter")
    expect(widget(page, "text", "Filter")).to_have_value("quantity >> 5")
    assert widget(page, "dropdown", "Table").input_value() == "orders"
    op.shot("22-bad-input")

    # 23: history — Run 6 (C0007's range) restored and run again
    history = page.locator(f"{PANEL} .widget-select select")
    labels = [label.replace("\xa0", " ") for label in history.locator("option").all_text_contents()]
    assert len(labels) == op.runs, f"{op.runs} Runs, {len(labels)} in the history"
    wanted = [label for label in labels if "sort between O000100 O000500" in label]
    history.select_option(index=labels.index(wanted[-1]))
    wait_for_status(page, "restored the inputs of")
    expect(widget(page, "text", "Key")).to_have_value("C0007", timeout=10_000)
    op.check(op.run(), "orders", c7_range, says=("key C0007", "sort between O000100 O000500"))

    # 24-25: saved as "c7 range"; another table; the saved query loaded and run — and in batch
    page.locator(f"{PANEL} input[placeholder='name for the shown Run']").fill("c7 range")
    page.wait_for_timeout(250)
    page.locator(f"{PANEL} button.widget-button", has_text="Save").click()
    status = wait_for_status(page, "saved .* as c7 range")
    assert re.match(rf"{len(c7_range[0])}\s*rows", status), f"the result's line went on Save: {status!r}"
    set_controls(page, "customers", "scan", "", "", "", (), "", "")
    op.check(op.run(), "customers", truth.keys("customers", customers), says=("scan customers",))

    # An edit (customers is granted ReadWriteUpdate): a row of this result that is not gold is made
    # gold, reviewed and confirmed; Run 30 (filter tier=gold) must then find it.
    admin = truth.ddb
    tiers = {text(i, "customer_id"): text(i, "tier") for i in customers}
    options = [o.replace("\xa0", " ") for o in
               widget(page, "dropdown", "Item").locator("option").all_text_contents()]
    rows = [o for o in options if re.fullmatch(r"\d+: C\d+", o)]
    assert rows, f"no rows to pick in Item: {options[:3]}"
    label = next(o for o in rows if tiers[o.split(": ")[1]] != "gold")
    edited = label.split(": ")[1]
    before = admin.get_item(TableName="customers", Key={"customer_id": {"S": edited}})["Item"]
    widget(page, "dropdown", "Item").select_option(label=label)
    expect(page.locator(EDIT)).to_be_visible(timeout=10_000)
    edit_attribute(page, "tier", "gold")
    page.locator(f"{EDIT} button.widget-button", has_text="Review").click()
    expect(page.locator(f"{EDIT} .xacct-edit-request textarea").first).to_have_value(
        re.compile(r'"ConditionExpression"'), timeout=10_000)
    page.locator(f"{EDIT} button.widget-button", has_text="Confirm").click()
    updated = wait_for_status(page, f"updated customers customer_id={edited}")
    assert "set tier = gold" in updated and "edits.jsonl" in updated, updated
    after = admin.get_item(TableName="customers", Key={"customer_id": {"S": edited}})["Item"]
    assert after == {**before, "tier": {"S": "gold"}}, after
    op.shot("24-edited")
    customers = truth.scan("customers")  # the truth from now on has the edit

    widget(page, "dropdown", "Saved").select_option(label="c7 range")
    wait_for_status(page, "loaded saved query c7 range")
    op.shot("25-saved-loaded")
    op.check(op.run(), "orders", c7_range, says=("query orders", "key C0007", "sort between O000100 O000500"))
    batch = sandbox.cli("query", "--params", str(jupyter.notebook_dir.parent / "params" / "local.yaml"),
                        "--saved", "c7 range")
    assert re.search(rf"^{len(c7_range[0])} rows × .* sort between O000100 O000500 .* complete$", batch, re.M), batch

    # A reload mid-session: the panel comes back from the kernel, with its history, and runs on.
    widget_errors = [e for e in page.console_errors if "widget" in e.lower()]
    assert not widget_errors, widget_errors
    page.console_errors.clear()
    page.keyboard.press("Control+s")
    page.wait_for_timeout(800)
    page.reload()
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    keep_running_kernel(page, "03_assume_and_explore.ipynb")
    page.wait_for_function(KERNEL_READY, arg=[NOTEBOOK, KERNEL_DISPLAY_NAME], timeout=60_000, polling=200)
    scroll_to_panel(page)
    assert "model not found" not in page.locator(NOTEBOOK).inner_text(), "a widget lost its model on reload"
    expect(page.locator(f"{PANEL} .widget-select select option")).to_have_count(op.runs, timeout=10_000)
    op.shot("reloaded")

    # 26-30 on the restored panel: every table once more, Enter in a box, an index range
    c1 = truth.query("orders", "customer_id", {"S": "C0001"})
    set_controls(page, "orders", "query", "", "C0001", "", (), "", "order_id, quantity, express")
    op.check(op.run(), "orders", truth.keys("orders", c1), says=("key C0001", "columns order_id, quantity, express"),
             columns={"customer_id", "order_id", "quantity", "express"})
    set_controls(page, "payments", "scan", "", "", "", (), "", "")
    op.limit(10)
    op.check(op.run(), "payments", truth.keys("payments", payments, 10), says=("scan payments",))
    set_controls(page, "ledger", "scan", "", "", "", (), "", "")
    columns = widget(page, "text", "Columns")
    columns.fill("entry_id, amount")
    op.limit(100)
    op.check(op.run(lambda: columns.press("Enter")), "ledger", truth.keys("ledger", ledger),
             says=("scan ledger", "columns entry_id, amount"), columns={"entry_id", "amount"})
    delivered = truth.query("orders", "status", {"S": "DELIVERED"}, index="by_status")
    set_controls(page, "orders", "query", "by_status", "DELIVERED", "between", ("2026-03", "2026-08"), "", "")
    op.limit(500)
    op.check(op.run(), "orders",
             truth.keys("orders", delivered, where=lambda i: "2026-03" <= text(i, "created_at") <= "2026-08"),
             says=("index by_status", "key DELIVERED", "sort between 2026-03 2026-08"))
    set_controls(page, "customers", "scan", "", "", "", (), "tier=gold", "")
    gold = truth.keys("customers", customers, where=lambda i: text(i, "tier") == "gold")
    assert (edited,) in gold[0], f"the edited {edited} is not gold in the table"
    op.check(op.run(), "customers", gold, says=("scan customers", "filter tier=gold"))
    admin.put_item(TableName="customers", Item=before)  # the next test sees the seeded item
    op.shot("30-last")

    assert op.runs == 30, op.runs
    assert_no_errors(page)
    lost = [e for e in page.console_errors if "not found" in e.lower() and "model" in e.lower()]
    assert not lost, f"after the reload a widget lost its model: {lost}"
    print("\n".join(op.log))
    print("console errors after the reload:", page.console_errors or "none")
    print(f"acceptance: {op.runs} Runs, a Load more, a reload in {time.monotonic() - started:.1f} s")
