"""The explorer panel, headless: set widget values, click Run, check the frame and what is shown.

The same panel in a real browser is tests/test_browser.py; this proves the Python side quickly.
"""

from __future__ import annotations

import pytest

from xacct_nb.sandbox.seed import items
from xacct_nb.widgets import ExplorerPanel

ORDERS = list(items("orders", 2000))


@pytest.fixture(scope="module")
def panel(sandbox):
    return ExplorerPanel(sandbox.session("sandbox-main"), ["orders", "customers"], limit=100)


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
