"""The explorer panel, headless: set widget values, click Run, check the frame and what is shown.

The same panel in a real browser is tests/test_browser.py; this proves the Python side quickly.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xacct_nb.sandbox.seed import items
from xacct_nb.widgets import ExplorerPanel

ORDERS = list(items("orders", 2000))


@pytest.fixture(scope="module")
def panel(sandbox):
    return ExplorerPanel(sandbox.session("sandbox-main"), ["orders", "customers"], limit=100)


def test_open_widgets_at_exit_are_noise_closed_ones_are_not():
    """Why tests/conftest.py closes every module's widgets: an open widget lives in ipywidgets'
    registry until the interpreter exits, when `comm` has dropped its manager, and its `__del__`
    then fails with KeyError (printed as "Exception ignored"). A closed one has nothing to do."""
    script = ("import comm, ipywidgets as w\n"
              "kept = [w.Output(), w.Button(), w.Tab(children=[w.Label('x')])]\n"
              "{close}"
              "comm._comm_manager = None  # what interpreter teardown leaves behind\n"
              "del kept\n")
    def stderr(close: str) -> str:
        return subprocess.run([sys.executable, "-c", script.format(close=close)], capture_output=True, text=True,
                              timeout=120, check=True).stderr
    assert "KeyError" in stderr("") and "Widget.__del__" in stderr("")
    tests = str(Path(__file__).parent)
    assert stderr(f"import sys; sys.path.insert(0, {tests!r}); from conftest import close_open_widgets\n"
                  "close_open_widgets()\n") == ""


def _expected(customer, predicate=lambda item: True):
    return sorted(i["order_id"]["S"] for i in ORDERS if i["customer_id"]["S"] == customer and predicate(i))


def test_table_choice_offers_its_indexes(panel):
    panel.table.value = "orders"
    assert [v for _, v in panel.index.options] == ["", "by_status"]
    panel.table.value = "customers"
    assert [v for _, v in panel.index.options] == [""]
    panel.table.value = "orders"


def test_query_by_partition_key(panel):
    panel.table.value = "orders"
    panel.mode.value = "query"
    panel.index.value = ""
    panel.key.value = "C0007"
    panel.sort_op.value = ""
    panel.filter.value = ""
    panel.projection.value = ""
    panel.run_button.click()
    panel.wait()
    assert panel.error is None
    assert sorted(panel.result["order_id"]) == _expected("C0007")
    assert f"<b>{len(panel.result)}</b> rows" in panel.status.value
    shown = panel.output.outputs[-1]["data"]["text/html"]  # what the browser renders
    assert all(order_id in shown for order_id in _expected("C0007"))


def test_query_with_sort_condition_filter_and_columns(panel):
    panel.table.value = "orders"
    panel.mode.value = "query"
    panel.key.value = "C0007"
    panel.sort_op.value = "between"
    panel.sort_value.value, panel.sort_value2.value = "O000100", "O000999"
    panel.filter.value = "status=SHIPPED"
    panel.projection.value = "order_id, status"
    panel.run_button.click()
    panel.wait()
    expected = _expected("C0007", lambda i: "O000100" <= i["order_id"]["S"] <= "O000999"
                         and i["status"]["S"] == "SHIPPED")
    assert expected and sorted(panel.result["order_id"]) == expected
    # the key attributes always come along, so every row stays identifiable
    assert set(panel.result.columns) == {"customer_id", "order_id", "status"}


def test_query_on_the_index(panel):
    panel.table.value = "orders"
    panel.mode.value = "query"
    panel.index.value = "by_status"
    panel.key.value = "CANCELLED"
    panel.sort_op.value = "begins_with"
    panel.sort_value.value = "2026-03"
    panel.filter.value = ""
    panel.projection.value = ""
    panel.run_button.click()
    panel.wait()
    expected = sorted(i["order_id"]["S"] for i in ORDERS
                      if i["status"]["S"] == "CANCELLED" and i["created_at"]["S"].startswith("2026-03"))
    assert sorted(panel.result["order_id"]) == expected[: panel.limit.value]


def test_scan_respects_the_row_budget(panel):
    panel.table.value = "orders"
    panel.mode.value = "scan"
    panel.index.value = ""
    panel.filter.value = ""
    panel.projection.value = ""
    panel.limit.value = 30
    panel.run_button.click()
    panel.wait()
    assert len(panel.result) == 30
    assert panel.result.attrs["xacct"]["partial"] is True
    assert "partial" in panel.status.value


def test_query_without_key_shows_a_clear_error(panel):
    panel.mode.value = "query"
    panel.key.value = ""
    before = panel.result
    assert panel.run() is None
    assert "partition key" in panel.error and panel.result is before
    assert "color:#b00" in panel.status.value


def _reset(panel, **values):
    panel.table.value = values.pop("table", "orders")
    panel.mode.value = values.pop("mode", "scan")
    panel.index.value = values.pop("index", "")
    panel.key.value, panel.sort_op.value = values.pop("key", ""), values.pop("sort_op", "")
    panel.filter.value, panel.projection.value = values.pop("filter", ""), ""
    panel.limit.value = values.pop("limit", 100)
    assert not values, values


def test_key_and_sort_controls_follow_the_key_schema(panel):
    _reset(panel, mode="query")
    assert panel.key.placeholder.startswith("customer_id value")
    assert panel.sort_value.placeholder == "order_id value"
    assert panel.sort_row.layout.display is None  # shown: orders has a sort key
    assert panel.sort_value.layout.display == "none"  # no condition chosen: no value box
    panel.sort_op.value = ">"
    assert panel.sort_value.layout.display is None and panel.sort_value2.layout.display == "none"
    panel.sort_op.value = "between"
    assert panel.sort_value2.layout.display is None
    panel.sort_op.value = ""
    panel.index.value = "by_status"
    assert panel.key.placeholder.startswith("status value")
    assert panel.sort_value.placeholder == "created_at value"
    assert "status" not in panel.filter.placeholder  # the index's own key cannot be a query filter
    panel.table.value = "customers"
    assert panel.key.placeholder.startswith("customer_id value")
    assert panel.sort_row.layout.display == "none"  # customers has no sort key
    panel.mode.value = "scan"
    assert panel.key.layout.display == "none"  # a scan uses no key


def test_filter_placeholder_names_attributes_the_table_has(panel):
    _reset(panel, table="customers")
    panel.run()
    names = [part.split("=")[0].split(">")[0].strip() for part in panel.filter.placeholder.split(",")]
    assert names and set(names) <= set(panel.result.columns) - {"customer_id"}, panel.filter.placeholder
    _reset(panel, table="orders")
    assert "name" not in panel.filter.placeholder  # customers' attribute, not orders'


def test_status_line_says_what_ran(panel):
    _reset(panel, mode="query", index="by_status", key="CANCELLED", sort_op="begins_with",
           filter="quantity>5")
    panel.sort_value.value = "2026-03"
    panel.run()
    status = panel.status.value
    meta = panel.result.attrs["xacct"]
    for part in ("query orders", "index by_status", "key CANCELLED", "sort begins_with 2026-03",
                 "filter quantity&gt;5", f"{meta['pages']} page", "RCU", " s"):
        assert part in status, (part, status)
    assert f"<b>{len(panel.result)}</b> rows" in status


def test_each_run_shows_exactly_one_result_and_an_error_clears_it(panel):
    _reset(panel, mode="query", key="C0007")
    panel.run()
    assert len(panel.output.outputs) == 1
    assert "C0007" in panel.output.outputs[0]["data"]["text/html"]
    _reset(panel, mode="query", key="C0008")
    panel.run()
    assert len(panel.output.outputs) == 1  # replaced, not appended
    shown = panel.output.outputs[0]["data"]["text/html"]
    assert "C0008" in shown and "C0007" not in shown
    _reset(panel, mode="query", key="")
    assert panel.run() is None
    assert panel.output.outputs == ()  # no stale table under the error
    assert "partition key" in panel.status.value


def test_the_panel_carries_its_table_viewer(panel):
    """The DataTables bundle sits in a widget of the panel, so a reloaded page (widgets restored
    from the kernel) has it without re-running any cell; no CDN address in it."""
    (viewer,) = panel.viewer.outputs
    html = viewer["data"]["text/html"]
    assert len(html) > 100_000 and "itables" in html
    assert not re.search(r"""(src=|from\s+|import\()\s*['"]https?://""", html), "the viewer loads from the network"


def test_a_column_no_item_returned_is_said_in_the_status_line(panel):
    """A dotted name is a path in the panel's grammar; a column that nothing returned is reported
    in the status line, never dropped silently."""
    panel.table.value = "orders"
    panel.mode.value = "query"
    panel.index.value = ""
    panel.key.value = "C0007"
    panel.sort_op.value = ""
    panel.filter.value = ""
    panel.projection.value = 'order_id, shipping.city, "shipping.city"'
    panel.run()
    assert panel.error is None
    assert panel.result.attrs["xacct"]["projection_missing"] == ['"shipping.city"']
    assert "no item returned column &quot;shipping.city&quot;" in panel.status.value
    assert all(set(v) == {"city"} for v in panel.result["shipping"].dropna())  # the path's map


# -- inputs follow the selection (issue 23) ----------------------------------------------------------
def test_switching_the_index_resets_key_and_sort_it_does_not_have(panel):
    """The issue's silently wrong Run: an order-id range carried over to by_status's created_at."""
    _reset(panel, mode="query", key="C0007", sort_op="between")
    panel.sort_value.value, panel.sort_value2.value = "O000100", "O000500"
    panel.index.value = "by_status"
    assert panel.key.value == "" and panel.sort_op.value == "" and panel.sort_value.value == ""
    assert "reset key, sort" in panel.status.value and "by_status" in panel.status.value
    panel.key.value = "SHIPPED"
    panel.run()
    assert "sort" not in panel.result.attrs["xacct"] and len(panel.result) > 0
    assert set(panel.result["status"]) == {"SHIPPED"}


def test_switching_the_table_resets_fields_naming_attributes_it_lacks(panel):
    _reset(panel, mode="scan")
    panel.run()  # orders' attributes are now known (quantity, express, amount…)
    panel.filter.value = "quantity>5, express=true"
    panel.projection.value = "amount, quantity, express"
    assert panel.warning.value == ""  # every name exists on orders
    panel.mode.value = "query"
    panel.key.value = "C0007"
    panel.table.value = "customers"
    assert panel.filter.value == "" and panel.projection.value == ""
    assert panel.key.value == "C0007"  # customers' partition key is customer_id (S) too
    status = panel.status.value
    assert "reset filter, columns" in status and "kept key" in status, status
    panel.run()
    assert len(panel.result) == 1 and panel.result["customer_id"].tolist() == ["C0007"]


def test_a_field_is_kept_when_every_attribute_it_names_exists(panel):
    _reset(panel, mode="scan")
    panel.run()
    panel.filter.value = "quantity>5"
    panel.index.value = "by_status"
    assert panel.filter.value == "quantity>5"
    assert "kept filter" in panel.status.value
    panel.index.value = ""
    assert panel.filter.value == "quantity>5"


def test_unknown_attribute_names_are_flagged_before_the_run(panel):
    _reset(panel, mode="scan")
    panel.run()
    panel.filter.value = "quantiy>5"
    assert "quantiy" in panel.warning.value and "Filter" in panel.warning.value
    panel.projection.value = "amount, shiping.city"
    columns_line = panel.warning.value.split("Columns: ")[1]
    assert columns_line.startswith("shiping.city —")  # amount exists: not flagged
    panel.filter.value = "quantity>5"
    panel.projection.value = "amount, shipping.city"
    assert panel.warning.value == ""
    panel.filter.value = "quantiy>5"
    panel.run()
    assert "quantiy" in panel.status.value  # the Run's line repeats it next to its 0 rows
    panel.filter.value = ""


# -- a Run in progress is visible and single (issue 23) ------------------------------------------
def test_a_run_in_progress_shows_a_live_count_is_single_and_stops_between_pages(panel, monkeypatch):
    _reset(panel, mode="scan", limit=2000)
    monkeypatch.setattr(panel, "page_size", 100)
    panel.run()
    previous = panel.result
    second_page, release = __import__("threading").Event(), __import__("threading").Event()
    shown = panel._show_progress

    def held(event):  # the reading thread waits here after its second page, shown as such
        shown(event)
        if event.stats["pages"] == 2:
            second_page.set()
            release.wait(30)

    monkeypatch.setattr(panel, "_show_progress", held)
    assert panel.start()
    assert second_page.wait(30)
    assert panel.running and panel.run_button.disabled and not panel.stop_button.disabled
    running = panel.output.outputs[0]["data"]["text/html"]
    assert "running… 200 items, 2 pages" in running  # the previous table is off the screen
    assert "running: scan orders" in panel.status.value
    assert panel.start() is False  # a second Run while one is in progress does nothing
    panel.run_button.click()
    panel.stop_button.click()
    release.set()
    panel.wait()
    assert not panel.running and not panel.run_button.disabled and panel.stop_button.disabled
    meta = panel.result.attrs["xacct"]
    assert panel.result is not previous and len(panel.result) == 200 and meta["pages"] == 2
    assert meta["partial"] and meta["reason"] == "stopped" and meta["last_evaluated_key"]
    assert "partial</b> (stopped)" in panel.status.value


def test_a_run_that_reads_everything_says_complete(panel):
    _reset(panel, table="customers", mode="scan", limit=1000)
    panel.run()
    assert len(panel.result) == 50 and "complete" in panel.status.value and "partial" not in panel.status.value


def test_enter_in_a_box_runs(panel):
    _reset(panel, mode="query", key="C0009")
    panel.key._handle_string_msg(None, {"event": "submit"}, None)  # what the front end sends on Enter
    panel.wait()
    assert sorted(panel.result["order_id"]) == _expected("C0009")


# -- Load more (issue 23) ---------------------------------------------------------------------------
def test_load_more_continues_from_the_last_evaluated_key_until_complete(panel):
    _reset(panel, table="customers", mode="scan", limit=20)
    panel.run()
    assert len(panel.result) == 20 and not panel.load_more_button.disabled
    assert "partial</b> (row budget reached); <b>Load more</b>" in panel.status.value
    panel.filter.value = "tier=gold"  # typed after the Run: Load more continues the Run as it was
    panel.load_more_button.click()
    panel.wait()
    assert len(panel.result) == 40 and panel.result["customer_id"].is_unique
    assert "Run + 1 Load more" in panel.status.value and "filter" not in panel.status.value
    panel.load_more()
    ids = panel.result["customer_id"].tolist()
    assert sorted(ids) == sorted(i["customer_id"]["S"] for i in items("customers", 50))
    assert panel.result.attrs["xacct"]["partial"] is False and "complete" in panel.status.value
    assert panel.load_more_button.disabled  # nothing left to load
    assert panel.result.attrs["xacct"]["pages"] >= 3
    assert panel.history[-1].reads == 3 and panel.history[-1].rows == 50
    panel.filter.value = ""


# -- history (issue 23) -----------------------------------------------------------------------------
def test_history_lists_every_run_and_clicking_one_restores_its_inputs(panel):
    _reset(panel, mode="query", index="by_status", key="PENDING", sort_op="begins_with",
           filter="quantity>5")
    panel.sort_value.value = "2026-01"
    panel.projection.value = "amount, quantity"
    panel.limit.value = 7
    panel.run()
    ran = panel.inputs()
    rows = len(panel.result)
    assert rows > 0 and panel.result.attrs["xacct"]["partial"]  # Max rows 7 cut it
    _reset(panel, table="customers", mode="scan")
    panel.run()
    _reset(panel, mode="query", key="")
    panel.run()  # an error is history too
    labels = [label for label, _ in panel.history_list.options]
    assert "partition key" in labels[0]  # newest first
    assert labels[1].split(" ", 1)[1].startswith("scan customers →")
    assert re.fullmatch(r"\d\d:\d\d:\d\d query orders · index by_status · key PENDING · sort "
                        r"begins_with 2026-01 · filter quantity>5 · columns amount, quantity → "
                        rf"{rows} rows \(partial\), [\d.]+ RCU, [\d.]+ s", labels[2]), labels[2]
    panel.history_list.value = panel.history_list.options[2][1]  # a click on it
    assert panel.inputs() == ran
    assert panel.history_list.value is None  # ready for the next click
    assert "restored" in panel.status.value
    panel.run()
    assert len(panel.result) == rows and set(panel.result["status"]) == {"PENDING"}


# -- show code (issue 23) ---------------------------------------------------------------------------
def test_the_code_shown_for_a_run_reads_what_the_panel_read(panel, sandbox):
    """Python API, boto3 loop, AWS CLI and PartiQL, each executed against the sandbox."""
    import json
    import subprocess

    from xacct_nb.dynamo.convert import deserialize_value

    _reset(panel, mode="query", key="C0007", sort_op="between", filter="quantity>5")
    panel.sort_value.value, panel.sort_value2.value = "O000100", "O001500"
    panel.projection.value = "amount, quantity"
    panel.limit.value = 12
    panel.run()
    wanted = sorted(panel.result["order_id"])
    assert len(wanted) == 12 and panel.result.attrs["xacct"]["partial"]
    panel.code_button.value = True
    code = {tab: box.value for tab, box in zip(panel.code_tabs.titles, panel.code_tabs.children)}
    assert list(code) == ["Python", "boto3", "AWS CLI", "PartiQL"] and code == panel.code()
    session = sandbox.session("sandbox-main")

    scope = {"session": session}
    exec(code["Python"], scope)
    assert sorted(scope["df"]["order_id"]) == wanted and list(scope["df"].columns) == list(panel.result.columns)
    scope = {"session": session}
    exec(code["boto3"], scope)
    assert sorted(i["order_id"]["S"] for i in scope["items"]) == wanted

    cli = code["AWS CLI"].replace("\\\n", " ")
    assert "--profile ROLE_PROFILE" in cli
    out = subprocess.run(cli.replace("ROLE_PROFILE", "sandbox-main"), shell=True, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(i["order_id"]["S"] for i in json.loads(out.stdout)["Items"]) == wanted

    statement = code["PartiQL"].splitlines()[-1]
    assert statement == ('SELECT "amount", "quantity" FROM "orders" WHERE "customer_id" = \'C0007\' AND '
                         '"order_id" BETWEEN \'O000100\' AND \'O001500\' AND "quantity" > 5')
    # the sandbox's PartiQL (moto's) knows neither BETWEEN nor begins_with (AWS does): a Run
    # without them is executed instead, complete, and compared whole
    _reset(panel, mode="query", key="C0007", filter="quantity>5", limit=1000)
    panel.run()
    statement = panel.code_tabs.children[3].value.splitlines()[-1]
    assert statement == 'SELECT * FROM "orders" WHERE "customer_id" = \'C0007\' AND "quantity" > 5'
    client, found, token = session.client("dynamodb"), [], None
    while True:
        page = client.execute_statement(Statement=statement, **({"NextToken": token} if token else {}))
        found += [deserialize_value({"M": i}) for i in page["Items"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(i["order_id"] for i in found) == sorted(panel.result["order_id"])
    assert not panel.result.attrs["xacct"]["partial"] and len(found) > 12
    panel.code_button.value = False
    assert panel.code_tabs.layout.display == "none"


# -- item view (issue 23) ---------------------------------------------------------------------------
def test_picking_a_row_shows_the_whole_item_typed_and_as_json(panel):
    import base64
    import json

    seeded = ORDERS[0]  # O000000 has every type: map, list, binary, NULL, sets, a number past 2**63
    _reset(panel, mode="query", key="C0000")
    panel.projection.value = "amount"  # the item view shows the whole item all the same
    panel.run()
    labels = [label for label, _ in panel.item_pick.options]
    assert labels[0].startswith("(pick a row") and "1: C0000 · O000000" in labels
    assert panel.item_tabs.layout.display == "none"
    panel.item_pick.value = labels.index("1: C0000 · O000000") - 1  # the operator picks it
    assert panel.item_tabs.layout.display is None
    assert panel.item_tabs.titles == ("Tree", "JSON", "DynamoDB JSON")
    tree, plain, wire = (child.value for child in panel.item_tabs.children)
    for name, type_ in (("shipping", "M"), ("lines", "L"), ("signature", "B"), ("note", "NULL"),
                        ("lucky_numbers", "NS"), ("tags", "SS"), ("express", "BOOL"), ("amount", "N")):
        assert re.search(rf"<b>{name}</b><span class='xacct-type'[^>]*>{type_}</span>", tree), name
    assert f"({len(seeded['signature']['B'])} bytes, base64)" in tree
    as_wire = json.loads(wire)
    expected = json.loads(json.dumps(seeded, default=lambda b: base64.b64encode(b).decode()))

    def sets_sorted(item):  # set order is DynamoDB's own
        return {k: {t: sorted(v) if t in ("SS", "NS") else v for t, v in w.items()} for k, w in item.items()}

    assert sets_sorted(as_wire) == sets_sorted(expected)
    as_plain = json.loads(plain)
    assert as_plain["ledger_ref"] == int(seeded["ledger_ref"]["N"]) == 2**63  # exact, not a float
    assert f'"ledger_ref": {2**63}' in plain
    assert as_plain["note"] is None and as_plain["shipping"]["city"] == seeded["shipping"]["M"]["city"]["S"]
    assert as_plain["signature"] == base64.b64encode(seeded["signature"]["B"]).decode()
    assert sorted(as_plain["tags"]) == sorted(seeded["tags"]["SS"])
    panel.projection.value = ""
    panel.run()  # a new Run: the item of the previous result is gone
    assert panel.item_tabs.layout.display == "none" and panel.item is None


def test_in_a_batch_run_the_viewer_is_a_loader_of_the_file_beside_the_record(monkeypatch, tmp_path):
    from xacct_nb.notebook import VIEWER_SRC_ENV, viewer_file_name, viewer_html, viewer_script, write_viewer_file

    name = write_viewer_file(tmp_path)
    assert name == viewer_file_name() and (tmp_path / name).read_text() == viewer_script()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    monkeypatch.setenv(VIEWER_SRC_ENV, name)
    loader = viewer_html()
    assert len(loader) < 2_000 and f'"{name}"' in loader and "injectCSS" not in loader
    monkeypatch.delenv(VIEWER_SRC_ENV)
    assert "injectCSS" in viewer_html() and len(viewer_html()) > 500_000  # live: embedded


def test_number_keys_are_typed_by_the_key(sandbox):
    """payments has a number partition key: the Key box's text is a number there (01007 is 1007)."""
    numbers = ExplorerPanel(sandbox.session("sandbox-main"), ["payments"], limit=100)
    numbers.mode.value = "query"
    assert numbers.key.placeholder == "payment_id value (number)"
    for typed in ("1007", "01007"):
        numbers.key.value = typed
        numbers.run()
        assert numbers.error is None and numbers.result["payment_id"].tolist() == [1007]
    numbers.key.value = "P1007"
    assert numbers.run() is None and "payment_id" in numbers.error


# -- export (issue 23) ------------------------------------------------------------------------------
def test_export_writes_the_shown_result_to_a_new_file_outside_the_records(panel, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(panel, "export_dir", tmp_path / "exports")
    _reset(panel, mode="query", key="C0007", limit=5)
    panel.run()
    wanted = sorted(panel.result["order_id"])
    assert not panel.export_button.disabled and panel.result.attrs["xacct"]["partial"]
    paths = [panel.export(fmt) for fmt in (".csv", ".parquet", ".jsonl")]
    assert all(p is not None and p.parent == tmp_path / "exports" for p in paths)
    assert sorted(pd.read_csv(paths[0])["order_id"]) == wanted
    parquet = pd.read_parquet(paths[1])
    assert sorted(parquet["order_id"]) == wanted and str(parquet["quantity"].dtype) in ("int64", "Int64")
    assert sorted(json.loads(line)["order_id"] for line in paths[2].read_text().splitlines()) == wanted
    assert "exported 5 rows to" in panel.status.value and "partial" in panel.status.value
    again = panel.export(".csv")  # a second export never replaces the first
    assert again != paths[0] and paths[0].exists()
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == sorted(p.name for p in [*paths, again])


# -- saved queries (issue 23) -----------------------------------------------------------------------
def test_a_run_saved_by_name_loads_back_into_the_panel(sandbox, tmp_path):
    from xacct_nb.saved_queries import load_queries, queries_file_for

    queries = queries_file_for(tmp_path / "params" / "local.yaml")
    assert queries.name == "local.queries.yaml"
    saver = ExplorerPanel(sandbox.session("sandbox-main"), ["orders", "customers"], queries_file=queries)
    assert saver.saved_box.layout.display is None
    _reset(saver, mode="query", index="by_status", key="PENDING", sort_op="begins_with", filter="quantity>5")
    saver.sort_value.value = "2026-01"
    saver.run()
    ran, rows = saver.inputs(), sorted(saver.result["order_id"])
    saver.save_name.value = "pending january"
    saver.save_button.click()
    assert "saved" in saver.status.value and queries.exists()
    assert load_queries(queries) == {"pending january": ran}
    assert saver.save("pending january") is None and "exists already" in saver.status.value
    assert [p.name for p in queries.parent.iterdir()] == [queries.name]  # no temporary file left

    loader = ExplorerPanel(sandbox.session("sandbox-main"), ["customers", "orders"], queries_file=queries)
    assert [v for _, v in loader.saved.options] == ["", "pending january"]
    loader.saved.value = "pending january"  # the operator picks it
    assert loader.inputs() == ran and "loaded saved query" in loader.status.value
    loader.run()
    assert sorted(loader.result["order_id"]) == rows


@pytest.mark.parametrize("text,message", [
    ("q:\n  table: orders\nq:\n  table: customers\n", "given twice"),
    ("q:\n  table: orders\n  colour: red\n", "unknown field 'colour'"),
    ("q:\n  table: orders\n  filter: 'amount'\n", "filter"),
    ("q:\n  table: orders\n  mode: query\n", "key"),
    ("q:\n  table: orders\n  limit: many\n", "limit must be a whole number"),
])
def test_a_bad_queries_file_is_refused_in_one_line(tmp_path, text, message):
    from xacct_nb.errors import InputError
    from xacct_nb.saved_queries import load_queries

    path = tmp_path / "local.queries.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_queries(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# -- PartiQL mode (issue 23) ------------------------------------------------------------------------
def test_partiql_mode_runs_one_select_as_any_run(panel, sandbox):
    _reset(panel, mode="partiql", limit=1000)
    assert panel.statement.layout.display is None and panel.filter.layout.display == "none"
    panel.statement.value = 'SELECT * FROM "orders" WHERE "customer_id" = \'C0007\''
    panel.run()
    assert panel.error is None and sorted(panel.result["order_id"]) == _expected("C0007")
    meta = panel.result.attrs["xacct"]
    assert meta["operation"] == "ExecuteStatement" and not meta["partial"] and "complete" in panel.status.value
    assert panel.status.value.count("PartiQL SELECT") == 1
    # the sandbox's ExecuteStatement (moto's) reports no consumed capacity: unknown, never "0 RCU"
    assert meta["consumed_rcu"] is None and "RCU not reported" in panel.status.value
    assert "RCU not reported" in panel.history_list.options[0][0]
    # the item view knows the statement's table
    assert [label for label, _ in panel.item_pick.options][1].startswith("1: C0007 · O")
    # the code shown runs and reads the same
    panel.code_button.value = True
    python = panel.code_texts[0].value
    scope = {"session": sandbox.session("sandbox-main")}
    exec(python, scope)
    assert sorted(scope["df"]["order_id"]) == _expected("C0007")
    assert panel.code_texts[3].value.strip() == panel.statement.value
    panel.code_button.value = False

    panel.limit.value = 5
    panel.run()
    assert len(panel.result) == 5 and panel.result.attrs["xacct"]["partial"]
    assert "partial" in panel.status.value and panel.load_more_button.disabled

    for statement in ('DELETE FROM "orders" WHERE "customer_id" = \'C0007\'', "SELEKT * FROM orders"):
        panel.statement.value = statement
        assert panel.run() is None and "SELECT" in panel.error
    panel.statement.value = ""
    _reset(panel)
    assert panel.statement.layout.display == "none" and panel.filter.layout.display is None


# -- item edit (issue 23) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def edit_role(sandbox):
    """The role of a spec granting customers ReadWriteUpdate and payments Read (as params/local.yaml
    grants them), applied in the sandbox; yields (its session, the main account's admin client)."""
    from pathlib import Path
    from uuid import uuid4

    import yaml

    from xacct_nb.provisioning import apply, destroy
    from xacct_nb.sessions import assume_from_spec
    from xacct_nb.spec import parse_spec

    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "local.yaml").read_text())
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = parse_spec({**base, "env": f"w{uuid4().hex[:6]}", "table_access_list": [
        {"table_name": "customers", "access_type": "ReadWriteUpdate"},
        {"table_name": "payments", "access_type": "Read"}]})
    apply(spec, yes=True, wait=False, **aws)
    yield assume_from_spec(spec, source=sandbox.session("sandbox-analyst"), wait=60), aws["main"].client("dynamodb")
    destroy(spec, yes=True, **aws)


@pytest.fixture
def edit_panel(edit_role, tmp_path):
    """A panel over the role, told the grants, with a customer of this test's own shown in the
    item view (put by the admin, deleted afterwards)."""
    from uuid import uuid4

    role, admin = edit_role
    key = f"EDIT-{uuid4().hex[:8]}"
    admin.put_item(TableName="customers", Item={"customer_id": {"S": key}, "name": {"S": "Ada"},
                                                "balance": {"N": "10.50"}, "address": {"M": {"city": {"S": "Kyiv"}}}})
    edits = ExplorerPanel(role, ["customers", "payments"], limit=100, edit_log=tmp_path / "runs" / "t" / "edits.jsonl",
                          grants={"customers": "ReadWriteUpdate", "payments": "Read"}, cli_profile="role-profile")
    _reset(edits, table="customers", mode="query", key=key)
    edits.run()
    edits.item_pick.value = 0  # the operator picks the row
    yield edits, key, admin
    admin.delete_item(TableName="customers", Key={"customer_id": {"S": key}})


def _shown(panel):
    return (panel.status.value, panel.output.outputs, panel.item_tree.value, [t.value for t in panel.item_texts])


def test_edit_controls_only_under_a_write_grant(edit_panel):
    edits, _, _ = edit_panel
    assert edits.editor.box.layout.display is None  # customers: ReadWriteUpdate
    assert "granted <b>ReadWriteUpdate</b>" in edits.editor.title.value
    _reset(edits, table="payments", mode="query", key="1001")
    edits.run()
    edits.item_pick.value = 0
    assert edits.item_tabs.layout.display is None and edits.editor.box.layout.display == "none"  # Read
    untold = ExplorerPanel(edits.session, ["customers"], limit=5)  # grants unknown: no editor either
    untold.run()
    untold.item_pick.value = 0
    assert untold.item_tabs.layout.display is None and untold.editor.box.layout.display == "none"
    unlogged = ExplorerPanel(edits.session, ["customers"], limit=5, grants={"customers": "Full"})
    unlogged.run()
    unlogged.item_pick.value = 0
    unlogged.editor.attribute.value = "name"
    unlogged.editor.value.value = "x"
    assert unlogged.editor.review() is None and "no edit log" in unlogged.editor.message.value
    edits.run()  # a new Run: no item, no editor
    assert edits.editor.box.layout.display == "none"


def test_an_edit_is_reviewed_confirmed_and_replaces_the_row(edit_panel):
    import json

    from xacct_nb.item_edit import EditLog

    edits, key, admin = edit_panel
    editor = edits.editor
    editor.attribute.value = "balance"
    assert (editor.type.value, editor.value.value) == ("N", "10.50")  # its current value, to edit
    editor.value.value = "12.75"
    editor.add_change()
    editor.attribute.value = "address.city"
    editor.value.value = "Odesa"
    assert editor.confirm_button.disabled  # nothing reviewed yet
    plan = editor.review()
    assert not editor.confirm_button.disabled and editor.request_tabs.layout.display is None
    request = json.loads(editor.request_texts[0].value)
    assert request["UpdateExpression"] == "SET #n0 = :v0, #n1.#n2 = :v1"
    assert request["ExpressionAttributeValues"][":v0"] == {"N": "12.75"}
    cli = editor.request_texts[1].value
    assert cli.startswith("aws dynamodb update-item") and "--profile role-profile" in cli
    editor.value.value = "Lviv"  # changed after Review: the request on screen is withdrawn
    assert editor.confirm_button.disabled and editor.plan is None
    plan = editor.review()
    assert editor.confirm() is not None
    stored = admin.get_item(TableName="customers", Key={"customer_id": {"S": key}})["Item"]
    assert stored["balance"] == {"N": "12.75"} and stored["address"]["M"]["city"] == {"S": "Lviv"}
    assert stored == plan.after
    assert edits.item == stored and '&quot;Lviv&quot;' in edits.item_tree.value  # the item view shows it
    assert edits.result["balance"].tolist() == [12.75]  # and the row
    assert "12.75" in edits.output.outputs[0]["data"]["text/html"]
    assert "updated customers" in edits.status.value and "logged to" in edits.status.value
    # the editor starts over from the item as it is now: nothing left that Confirm could resend
    assert editor.plan is None and editor.confirm_button.disabled and editor.attribute.value == ""
    assert editor.request_tabs.layout.display == "none"
    assert ("updated: set balance = 12.75 (N), was 10.50 (N); set address.city = Lviv (S), was Kyiv (S) "
            "(logged to") in editor.message.value
    assert f"(customer_id={key})" in editor.title.value
    (line,) = EditLog(editor.log.path).records()
    assert line["outcome"] == "applied" and line["after"] == json.loads(json.dumps(stored))


def test_a_refused_edit_is_one_red_line_and_nothing_else_changes(edit_panel):
    edits, key, admin = edit_panel
    editor = edits.editor
    editor.attribute.value = "name"
    editor.value.value = "Ada L."
    editor.review()
    admin.update_item(TableName="customers", Key={"customer_id": {"S": key}},  # another writer
                      UpdateExpression="SET balance = :b", ExpressionAttributeValues={":b": {"N": "1"}})
    before = _shown(edits)
    assert editor.confirm() is None
    assert _shown(edits) == before and edits.error is None
    assert editor.message.value.count("xacct-edit-error") == 1
    assert "the item changed since it was read — reload it and edit again" in editor.message.value
    assert editor.confirm_button.disabled
    assert admin.get_item(TableName="customers", Key={"customer_id": {"S": key}})["Item"]["name"] == {"S": "Ada"}
    editor.reload()  # reload: the item as it is now, ready to edit again
    assert edits.item["balance"] == {"N": "1"} and editor.message.value == ""


def test_a_denied_edit_names_the_grant_in_one_line(edit_panel):
    edits, _, _ = edit_panel
    edits.editor.grants["payments"] = "ReadWriteUpdate"  # as if the panel had been told wrong
    _reset(edits, table="payments", mode="query", key="1001")
    edits.run()
    edits.item_pick.value = 0
    edits.editor.grants["payments"] = "Read"
    edits.editor.attribute.value = "amount"
    edits.editor.value.value = "1.00"
    edits.editor.review()
    before = _shown(edits)
    assert edits.editor.confirm() is None and _shown(edits) == before
    assert "its grant is Read, and Read grants cannot write" in edits.editor.message.value


def test_a_key_attribute_cannot_be_edited_in_the_panel(edit_panel):
    edits, _, _ = edit_panel
    edits.editor.attribute.value = "customer_id"
    edits.editor.value.value = "C9"
    assert edits.editor.review() is None and edits.editor.confirm_button.disabled
    assert "customer_id is part of the key of table customers" in edits.editor.message.value


def test_a_whole_map_is_replaced_with_a_typed_json_value(edit_panel):
    edits, key, admin = edit_panel
    editor = edits.editor
    editor.attribute.value = "address"
    assert (editor.type.value, editor.value.value) == ("JSON", '{\n "city": "Kyiv"\n}')  # as it is, to edit
    editor.value.value = '{"city": "Odesa", "zip": "65000", "floor": 3.50, "tags": ["a", null]}'
    editor.review()
    assert editor.confirm() is not None, editor.message.value
    stored = admin.get_item(TableName="customers", Key={"customer_id": {"S": key}})["Item"]
    assert stored["address"] == {"M": {"city": {"S": "Odesa"}, "zip": {"S": "65000"}, "floor": {"N": "3.50"},
                                       "tags": {"L": [{"S": "a"}, {"NULL": True}]}}}
