"""One display convention for every table (panel, `show`, HTML run records — all through
`notebook.table_html`): one missing-value marker, binary as base64 with its length, maps/lists/
sets as compact JSON. Display only: the frames keep their types."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from xacct_nb.notebook import MISSING, display_frame, display_value, table_html


@pytest.mark.parametrize("value,shown", [
    (None, MISSING), (np.nan, MISSING), (pd.NA, MISSING), (pd.NaT, MISSING),
    (b"\xfa/", "+i8= (base64, 2 bytes)"), (b"", " (base64, 0 bytes)"), (b"\x00", "AA== (base64, 1 byte)"),
    ({"city": "Kyiv", "n": Decimal("2.5"), "none": None}, '{"city":"Kyiv","n":2.5,"none":null}'),
    ([1, "x", {"ok": True}], '[1,"x",{"ok":true}]'),
    ({"vip", "gift"}, '["gift","vip"]'),
    ({Decimal("10000000000000000000000001"), Decimal("3.25")}, '[3.25,10000000000000000000000001]'),
    ([b"\x00\x01"], '["AAE="]'),
    (Decimal("123456789.123456789"), "123456789.123456789"),
    (1033.0, "1033"), (417.87, "417.87"), (True, "true"), ("", ""), ("None", "None"),
])
def test_display_value(value, shown):
    assert display_value(value) == shown


def _shown_rows(html: str) -> list[list]:
    return json.loads(json.loads(re.search(r'"data_json": (".*?"),\n', html).group(1)))


def test_one_marker_for_every_kind_of_missing():
    df = pd.DataFrame({
        "int": pd.array([1, None], dtype="Int64"), "float": [1.5, np.nan], "text": ["x", None],
        "binary": [b"\xfa/", None], "map": [{"a": [1]}, None], "set": [{"x"}, None],
        "flag": pd.array([True, None], dtype="boolean"), "when": pd.to_datetime(["2026-01-01", None]),
        "arrow": pd.array(["x", None], dtype=pd.ArrowDtype(__import__("pyarrow").string())),
        "whole": [1, 2]})
    first, second = _shown_rows(table_html(df))
    assert second == [MISSING] * 9 + [2]
    assert first[3] == "+i8= (base64, 2 bytes)" and first[4] == '{"a":[1]}' and first[5] == '["x"]'
    html = table_html(df)
    for other in ("NaN", "&lt;NA&gt;", "<NA>", "None", "b'\\\\x"):
        assert other not in html.split('"data_json"')[1].split("keys_to_be_evaluated")[0]
    assert df["int"].dtype == "Int64" and df["binary"][0] == b"\xfa/"  # the frame is untouched


def test_numbers_without_gaps_stay_numbers():
    shown = display_frame(pd.DataFrame({"n": [3, 1, 2], "f": [0.5, 1.25, 2.0]}))
    assert shown["n"].tolist() == [3, 1, 2] and str(shown["n"].dtype) == "int64"
    assert str(shown["f"].dtype) == "float64"


def test_the_panel_shows_values_the_same_way(sandbox):
    from xacct_nb.widgets import ExplorerPanel

    panel = ExplorerPanel(sandbox.session("sandbox-main"), ["orders"], limit=60)
    panel.mode.value = "scan"
    panel.run_button.click()  # the Run reads on a thread of its own
    panel.wait()
    assert panel.error is None
    df = panel.result
    rows = _shown_rows(panel.output.outputs[-1]["data"]["text/html"])
    columns = list(df.columns)
    signature = columns.index("signature")
    raw = df["signature"].tolist()
    for row, value in zip(rows, raw):
        assert row[signature] == display_value(value)
        assert row[signature] == MISSING or row[signature].endswith("bytes)")
    shipping = columns.index("shipping")
    assert all(r[shipping] == MISSING or r[shipping].startswith("{\"") for r in rows)
    assert not any(cell in ("NaN", "<NA>", "None", "nan") for r in rows for cell in r)
