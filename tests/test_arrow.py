"""The typed Arrow table (xacct_nb.dynamo.arrow): pure, no server.

The frame tests (tests/test_dynamo_convert.py, run there against the default read path,
xacct_nb.dynamo.frame) are the oracle: the ones about typing items are imported below and run
again here with ``items_to_frame`` replaced by "serialize the items to page bodies as a server
would, parse them into the typed table, convert that to pandas" (``arrow_to_pandas``, what a
``to_arrow`` user gets) — so the typed table's pandas output is checked against exactly the same
expectations. Left out: flattening (``flatten_maps``), the page-by-page API, single values and
rawpages, which the typed table does not offer.
"""

from __future__ import annotations

import base64
import json
import math
import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import test_dynamo_convert
from arrow_oracle import arrow_to_pandas
from test_dynamo_convert import (  # noqa: F401  (collected here a second time, on the Arrow path)
    test_a_decimal_float_would_change_makes_the_column_exact_decimals,
    test_binary_from_base64_text_or_bytes,
    test_booleans_are_nullable_boolean,
    test_columns_from_every_item_in_order_keys_first,
    test_decimals_become_float64_when_float_keeps_them,
    test_empty_input,
    test_int_page_then_decimal_page,
    test_integers_are_nullable_int64_up_to_the_int64_bounds,
    test_integers_beyond_int64_stay_exact_python_ints,
    test_ints_mixed_with_decimals,
    test_items_and_pages_can_be_mixed,
    test_mixed_type_column_holds_natural_values,
    test_nested_maps_and_lists_convert_recursively,
    test_null_only_column_and_missing_attributes,
    test_numbers_decimal_option,
    test_precision_varying_between_pages_loads,
    test_resource_layer_items_are_refused_clearly,
    test_sets_are_python_sets_with_converted_elements,
    test_sets_as_sorted_lists,
    test_strings_keep_empty_unicode_and_missing,
)
from xacct_nb.dynamo import arrow_parse as arrow
from xacct_nb.dynamo.arrow_parse import ArrowPages, pages_to_arrow
from xacct_nb.dynamo.arrow_types import FLOAT_EXACT, NUMBER, SET
from xacct_nb.dynamo.to_pandas import items_to_frame


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body(items: list, **extra) -> bytes:
    """A page body as a server sends it: binary values as base64 text."""
    return json.dumps({"Items": items, "Count": len(items), **extra},
                      default=b64, ensure_ascii=False).encode()


def arrow_items_to_frame(items_or_pages, *, key_names=(), numbers="float", sets="set",
                         flatten_maps=False):
    """items_to_frame's contract, on the Arrow path (pages grouped the same way)."""
    assert not flatten_maps, "the Arrow path has no flatten_maps"
    bodies, batch = [], []
    for element in items_or_pages:
        if isinstance(element, list) or isinstance(element.get("Items"), list):
            bodies.append(body(batch))
            batch = []
            bodies.append(body(element if isinstance(element, list) else element["Items"]))
        else:
            batch.append(element)
    bodies.append(body(batch))
    table = pages_to_arrow(bodies, key_names=key_names)
    return arrow_to_pandas(table, numbers=numbers, sets=sets)


@pytest.fixture(autouse=True)
def arrow_converter(monkeypatch, request):
    """The imported oracle tests run with the Arrow path; this module's own tests are unaffected."""
    if request.function.__module__ == "test_dynamo_convert":
        monkeypatch.setattr(test_dynamo_convert, "items_to_frame", arrow_items_to_frame)


# ---------------------------------------------------------------------------------------------
# Arrow types


def typed(items: list, **options) -> pa.Table:
    return pages_to_arrow([body(items)], **options)


def test_arrow_types_of_every_wire_type():
    table = typed([{
        "s": {"S": "x"}, "i": {"N": "-5"}, "d": {"N": "12.345"}, "big": {"N": str(2**63 + 1)},
        "huge": {"N": "1" + "0" * 40}, "b": {"BOOL": True}, "bin": {"B": b64(b"\x00\xff")},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b64(b"q")]},
        "m": {"M": {"city": {"S": "Lyon"}, "n": {"N": "3"}}},
        "l": {"L": [{"M": {"sku": {"S": "A"}, "qty": {"N": "2"}}}]},
        "mixed_l": {"L": [{"S": "a"}, {"N": "1"}]}, "nothing": {"NULL": True},
    }])
    schema = table.schema
    assert schema.field("s").type == pa.string()
    assert schema.field("i").type == pa.int64()
    assert schema.field("d").type == pa.decimal128(38, 3)
    assert schema.field("big").type == pa.decimal128(38, 0)
    assert schema.field("huge").type == pa.string()
    assert schema.field("huge").metadata[NUMBER] == b"text"
    assert schema.field("b").type == pa.bool_()
    assert schema.field("bin").type == pa.binary()
    assert schema.field("ss").type == pa.list_(pa.string())
    assert schema.field("ss").metadata[SET] == b"SS"
    assert schema.field("ns").type.value_type == pa.decimal128(38, 1)
    assert schema.field("bs").type.value_type == pa.binary()
    assert schema.field("m").type == pa.struct(
        [pa.field("city", pa.string()), pa.field("n", pa.int64())])
    assert schema.field("l").type.value_type == pa.struct(
        [pa.field("sku", pa.string()), pa.field("qty", pa.int64())])
    assert schema.field("mixed_l").type == pa.string()
    assert json.loads(table["mixed_l"][0].as_py()) == {"L": [{"S": "a"}, {"N": "1"}]}
    assert schema.field("nothing").type == pa.null()
    row = table.to_pylist()[0]
    assert row["bin"] == b"\x00\xff" and row["bs"] == [b"q"]
    assert row["big"] == Decimal(2**63 + 1) and row["huge"] == "1" + "0" * 40
    assert row["l"] == [{"sku": "A", "qty": 2}]


def test_date_like_strings_keep_their_exact_text():
    # pyarrow.json alone would make these timestamp[s] (and print them back differently).
    dates = ["2026-01-02T03:04:05Z", "2026-01-02", "2026-01-02 03:04:05"]
    pages = [body([{"when": {"S": d}, "m": {"M": {"d": {"S": d}}}, "s": {"SS": [d]}}])
             for d in dates]
    table = pages_to_arrow(pages)
    assert table["when"].to_pylist() == dates
    assert [m["d"] for m in table["m"].to_pylist()] == dates
    assert table["s"].to_pylist() == [[d] for d in dates]


def _large_page(count: int, item) -> bytes:
    page = body([item(i) for i in range(count)])
    assert len(page) > 2 * arrow.SCHEMA_SAMPLE_BYTES  # large enough to be sampled
    return page


def test_a_large_first_page_with_dates_is_parsed_once_with_the_schema_of_a_sample(monkeypatch):
    # Its first items give the schema (date-like text fixed to strings there, where a second
    # parse is cheap); the page itself is then parsed once, not twice.
    page = _large_page(3_000, lambda i: {"pk": {"S": f"k{i}"}, "at": {"S": f"2026-01-{1 + i % 28:02d}"},
                                         "m": {"M": {"when": {"S": "2026-02-03T04:05:06Z"}}}})
    sizes: list[int] = []
    real = arrow._read_json
    monkeypatch.setattr(arrow, "_read_json", lambda b, s: sizes.append(len(b)) or real(b, s))
    items = ArrowPages().parse(page)["Items"].array
    assert [size for size in sizes if size >= len(page) - 100] == [len(page)]
    assert sum(sizes) < len(page) + 2 * arrow.SCHEMA_SAMPLE_BYTES + 10_000
    assert items.field("at").field("S").to_pylist() == [f"2026-01-{1 + i % 28:02d}" for i in range(3_000)]
    assert items.field("m").field("M").field("when").field("S")[0].as_py() == "2026-02-03T04:05:06Z"


def test_schema_sample_cut_inside_an_item_falls_back_to_the_whole_page():
    # Lists of maps whose first key is named like a type tag look like an item boundary to the
    # sample's cut; the sample then ends inside an item, fails to parse, and nothing is lost.
    tricky = {"L": [{"M": {"S": {"S": f"v{j}"}, "N": {"N": str(j)}}} for j in range(2_000)]}
    items = [{"pk": {"S": f"k{i}"}, "l": tricky, "at": {"S": "2026-01-02"}} for i in range(3)]
    page = body(items)
    assert len(page) > 2 * arrow.SCHEMA_SAMPLE_BYTES
    table = pages_to_arrow([page])
    assert table["l"].to_pylist()[2][1999] == {"S": "v1999", "N": 1999}
    assert table["at"].to_pylist() == ["2026-01-02"] * 3


def test_a_date_like_attribute_first_seen_after_the_sample_keeps_its_text():
    page = _large_page(9_000, lambda i: {"pk": {"S": f"k{i}"}, **({"late": {"S": "2026-03-04"}}
                                                                   if i > 8_500 else {})})
    table = pages_to_arrow([page])
    assert table["late"].to_pylist()[-1] == "2026-03-04" and table.schema.field("late").type == pa.string()


def test_schema_unifies_across_pages():
    pages = [
        body([{"pk": {"S": "1"}, "n": {"N": "1"}, "l": {"L": []}}]),
        body([{"pk": {"S": "2"}, "n": {"N": "12.5"}, "late": {"BOOL": False},
               "l": {"L": [{"N": "7"}]}}]),
        body([{"pk": {"S": "3"}, "n": {"N": str(2**63 + 3)}, "m": {"M": {"a": {"S": "x"}}}}]),
        body([{"pk": {"S": "4"}, "n": {"N": "0.001"}, "m": {"M": {"b": {"N": "2"}}}}]),
        body([]),
    ]
    table = pages_to_arrow(pages, key_names=["pk", "sk"])
    assert table.column_names == ["pk", "sk", "n", "l", "late", "m"]
    assert table.schema.field("n").type == pa.decimal128(38, 3)
    assert table["n"].to_pylist() == [Decimal(1), Decimal("12.5"), Decimal(2**63 + 3),
                                     Decimal("0.001")]
    assert table["late"].to_pylist() == [None, False, None, None]
    assert table["l"].to_pylist() == [[], [7], None, None]
    assert table["m"].to_pylist() == [None, None, {"a": "x", "b": None}, {"a": None, "b": 2}]
    assert table["sk"].null_count == 4


def test_a_column_of_several_types_is_exact_dynamodb_json():
    pages = [body([{"x": {"N": "1.50"}}]), body([{"x": {"S": "a"}}, {"x": {"NULL": True}}, {}])]
    table = pages_to_arrow(pages)
    assert table["x"].to_pylist() == ['{"N":"1.50"}', '{"S":"a"}', None, None]


def test_numbers_past_decimal128_stay_exact_text():
    texts = ["1E+125", "-1.5", "123456789012345678901234567890.123456789"]
    table = typed([{"n": {"N": t}} for t in texts])
    assert table["n"].to_pylist() == texts
    assert table.schema.field("n").metadata[NUMBER] == b"text"
    df = arrow_to_pandas(table)
    assert df["n"].tolist() == [Decimal(t) for t in texts]
    assert arrow_to_pandas(typed([{"n": {"N": "1E+125"}}]))["n"].tolist() == [1e125]


def test_float_exact_flag_follows_the_converters_rule():
    exact = typed([{"n": {"N": "0.1"}}, {"n": {"N": str(2**53)}}])
    assert exact.schema.field("n").metadata[FLOAT_EXACT] == b"true"
    inexact = typed([{"n": {"N": "0.1"}}, {"n": {"N": str(2**53 + 1)}}])
    assert inexact.schema.field("n").metadata[FLOAT_EXACT] == b"false"


def test_binary_decoding_matches_base64():
    rng = random.Random(3)
    blobs = [rng.randbytes(rng.randint(0, 40)) for _ in range(500)]
    items = [{"b": {"B": b64(blob)}} if i % 7 else {} for i, blob in enumerate(blobs)]
    column = typed(items)["b"].to_pylist()
    assert column == [blob if i % 7 else None for i, blob in enumerate(blobs)]
    with pytest.raises(ValueError, match="base64"):
        typed([{"b": {"B": "not base64!"}}])


def test_explicit_nulls_on_request():
    items = [{"a": {"S": "x"}}, {"a": {"NULL": True}}, {}]
    assert typed(items).column_names == ["a"]
    table = typed(items, explicit_nulls=True)
    assert table.column_names == ["a", "a/NULL"]
    assert table["a"].to_pylist() == ["x", None, None]
    assert table["a/NULL"].to_pylist() == [False, True, False]


def test_parsed_pages_look_like_rawpages_pages():
    pages = ArrowPages()
    page = pages.add(body([{"k": {"B": b64(b"\x01")}, "m": {"M": {"a": {"NULL": True}}}},
                           {"k": {"B": b64(b"\x02")}, "s": {"SS": ["x"]}}], ScannedCount=3,
                          LastEvaluatedKey={"k": {"B": b64(b"\x02")}, "n": {"N": "5"}},
                          ConsumedCapacity={"TableName": "t", "CapacityUnits": 0.5}))
    assert page["Count"] == 2 and page["ScannedCount"] == 3
    assert page["LastEvaluatedKey"] == {"k": {"B": b"\x02"}, "n": {"N": "5"}}
    assert page["ConsumedCapacity"] == {"TableName": "t", "CapacityUnits": 0.5}
    items = page["Items"]
    assert len(items) == 2 and len(items[:1]) == 1
    assert items[0] == {"k": {"B": b64(b"\x01")}, "m": {"M": {"a": {"NULL": True}}}}
    assert items[-1] == {"k": {"B": b64(b"\x02")}, "s": {"SS": ["x"]}}
    empty = pages.add(body([]))
    assert "LastEvaluatedKey" not in empty and len(empty["Items"]) == 0
    pages.add_items(pages.parse(body([{"k": {"B": b64(b"\x03")}}]))["Items"][:0])
    assert pages.rows == 2


@pytest.mark.parametrize("layout", ["items first", "items last", "pretty"])
def test_envelope_is_read_without_the_items_whatever_the_layout(layout):
    key = {"pk": {"S": "a]b],\"Count\":9}"}}  # brackets and quotes inside the key's text
    items = [{"Items": {"L": [{"S": "]"}]}, "LastEvaluatedKey": {"SS": ["]"]}, "pk": {"S": "x"}}]
    envelope = {"Count": 1, "ScannedCount": 4, "LastEvaluatedKey": key}
    if layout == "items first":
        raw = json.dumps({"Items": items, **envelope})
    elif layout == "items last":
        raw = json.dumps({**envelope, "Items": items}, separators=(",", ":"))
    else:
        raw = json.dumps({"Items": items, **envelope}, indent=2)
    page = ArrowPages().parse(raw.encode())
    assert page["LastEvaluatedKey"] == key and page["ScannedCount"] == 4
    assert len(page["Items"]) == 1  # from Count: the items are parsed on first use only
    assert page["Items"][0] == items[0]


def test_a_count_that_disagrees_with_the_items_is_refused():
    page = ArrowPages().parse(body([{"a": {"S": "x"}}]).replace(b'"Count": 1', b'"Count": 2'))
    assert len(page["Items"]) == 2
    with pytest.raises(ValueError, match="Count says 2, Items holds 1"):
        page["Items"][0]


def test_bodies_that_are_not_responses_are_refused():
    with pytest.raises(ValueError, match="Scan/Query response"):
        pages_to_arrow([b"<html>"])
    with pytest.raises(ValueError, match="no Items"):
        pages_to_arrow([b'{"Count": 0}'])
    with pytest.raises(ValueError, match="not a DynamoDB number"):
        typed([{"n": {"N": "twelve"}}])


def test_pretty_printed_bodies_parse_as_one_page():
    pretty = json.dumps({"Items": [{"a": {"S": "line\nbreak"}}], "Count": 1}, indent=2).encode()
    assert pages_to_arrow([pretty])["a"].to_pylist() == ["line\nbreak"]


# ---------------------------------------------------------------------------------------------
# pandas backends


def random_items(seed: int, n: int) -> list[dict]:
    return test_dynamo_convert.random_items(random.Random(seed), n)


def test_default_frame_equals_the_column_converter_on_random_pages():
    items = random_items(11, 600)
    pages = [items[i: i + 97] for i in range(0, 600, 97)]
    expected = items_to_frame([{"Items": p} for p in pages], key_names=["pk"])
    got = arrow_to_pandas(pages_to_arrow([body(p) for p in pages], key_names=["pk"]))
    pd.testing.assert_frame_equal(got, expected)


def test_numpy_nullable_backend():
    table = typed([{"s": {"S": "x"}, "i": {"N": "1"}, "f": {"N": "0.5"}, "b": {"BOOL": True}},
                   {}])
    df = arrow_to_pandas(table, dtype_backend="numpy_nullable")
    assert df.dtypes.astype(str).tolist() == ["string", "Int64", "Float64", "boolean"]
    assert df["s"][1] is pd.NA and df["f"][0] == 0.5


def test_pyarrow_backend_is_zero_copy_arrow_dtypes():
    table = typed([{"m": {"M": {"a": {"N": "1.5"}}}, "s": {"S": "x"}}])
    df = arrow_to_pandas(table, dtype_backend="pyarrow")
    assert all(isinstance(t, pd.ArrowDtype) for t in df.dtypes)
    assert df["m"].dtype.pyarrow_dtype == pa.struct([pa.field("a", pa.decimal128(38, 1))])
    with pytest.raises(ValueError, match="dtype_backend"):
        arrow_to_pandas(table, dtype_backend="numpy")


# ---------------------------------------------------------------------------------------------
# Parquet


def test_parquet_round_trip_keeps_nested_types_and_metadata(tmp_path):
    items = [{"m": {"M": {"a": {"N": "1.5"}}}, "ns": {"NS": ["1", "2"]},
              "big": {"N": str(2**63 + 7)}, "mixed": {"L": [{"S": "a"}, {"N": "1"}]}}]
    table = typed(items)
    pq.write_table(table, tmp_path / "t.parquet")
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.to_pylist() == table.to_pylist()
    pd.testing.assert_frame_equal(arrow_to_pandas(back), arrow_to_pandas(table))


def test_nan_is_never_used_for_exact_numbers():
    df = arrow_to_pandas(typed([{"n": {"N": "123456789.123456789"}}, {}]))
    assert df["n"].tolist() == [Decimal("123456789.123456789"), None]
    assert not any(isinstance(v, float) and math.isnan(v) for v in df["n"])
    assert np.dtype(object) == df["n"].dtype


# --- export data files (JSON Lines of {"Item": ...}) on the same parser -------------------------

EXPORT_LINES = [
    {"pk": {"S": "a"}, "day": {"S": "2026-01-02"}, "n": {"N": "1.5"}, "b": {"B": b64(b"\x00\x01")},
     "m": {"M": {"x": {"N": "1E+2"}, "gone": {"NULL": True}}}, "s": {"SS": ["y", "x"]}},
    {"pk": {"S": "b"}, "n": {"N": "12345678901234567890"}, "l": {"L": [{"S": "q"}, {"N": "2"}]}},
    {"pk": {"S": "c"}, "day": {"S": "2026-02-03 04:05:06"}, "flag": {"BOOL": True}},
]


def export_file(items: list) -> bytes:
    return "".join(json.dumps({"Item": item}) + "\n" for item in items).encode()


@pytest.mark.parametrize("numbers", ["float", "decimal"])
def test_export_lines_become_the_frame_pages_give(numbers):
    from xacct_nb.dynamo.to_pandas import FrameBuilder

    parser = ArrowPages()
    builder = FrameBuilder(key_names=["pk"], numbers=numbers)
    for part in (EXPORT_LINES[:1], EXPORT_LINES[1:]):  # two files: the schema carries over
        builder.add_items(parser.parse_lines(export_file(part)))
    got = builder.to_frame()
    pd.testing.assert_frame_equal(got, items_to_frame(EXPORT_LINES, key_names=["pk"],
                                                      numbers=numbers))
    # date-like text stays text (Arrow alone would infer timestamps)
    assert (got["day"][0], got["day"][2]) == ("2026-01-02", "2026-02-03 04:05:06")


def test_export_lines_of_every_type():
    from test_dynamo_convert import EXPORT_ITEMS
    from xacct_nb.dynamo.to_pandas import FrameBuilder

    builder = FrameBuilder(key_names=["pk"])
    builder.add_items(ArrowPages().parse_lines(export_file(EXPORT_ITEMS)))
    pd.testing.assert_frame_equal(builder.to_frame(), items_to_frame(EXPORT_ITEMS, key_names=["pk"]))


def test_export_lines_that_are_not_items_are_refused():
    with pytest.raises(ValueError, match="no 'Item'"):
        ArrowPages().parse_lines(b'{"Keys": {"pk": {"S": "a"}}}\n')
    with pytest.raises(ValueError, match="not a DynamoDB export data file"):
        ArrowPages().parse_lines(b'{"Item": {"pk": {"S": "a"}}}\n{"Item": \n')
    assert len(ArrowPages().parse_lines(b"\n")) == 0


def test_a_large_first_export_file_with_dates_is_parsed_once_with_the_schema_of_a_sample(monkeypatch):
    items = [{"pk": {"S": f"k{i}"}, "at": {"S": f"2026-01-{1 + i % 28:02d}"}} for i in range(5_000)]
    data = export_file(items)
    assert len(data) > 2 * arrow.SCHEMA_SAMPLE_BYTES
    sizes: list[int] = []
    real = arrow._read_lines
    monkeypatch.setattr(arrow, "_read_lines", lambda d, f, s: sizes.append(len(d)) or real(d, f, s))
    parsed = ArrowPages().parse_lines(data).array
    assert [size for size in sizes if size == len(data)] == [len(data)]  # the file once
    assert parsed.field("at").field("S").to_pylist() == [i["at"]["S"] for i in items]
