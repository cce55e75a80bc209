"""Wire-format → DataFrame conversion (pure), and raw Scan/Query pages (fake HTTP, local moto)."""

from __future__ import annotations

import base64
import gc
import json
import math
import random
import zlib
from decimal import Decimal

import boto3
import numpy as np
import pandas as pd
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from raw_items import iter_pages, query_page, scan_page

from xacct_nb.dynamo.convert import deserialize_value, key_to_wire, to_wire
from xacct_nb.dynamo.gcpause import gc_paused
from xacct_nb.dynamo.rawpages import enable_raw_pages
from xacct_nb.dynamo.to_pandas import FrameBuilder, items_to_frame
from xacct_nb.dynamo.writers import frame_for_export

STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def column(items, name, **options):
    return items_to_frame(items, **options)[name]


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------------------------------------
# scalar types


def test_strings_keep_empty_unicode_and_missing():
    items = [
        {"s": {"S": ""}}, {"s": {"S": "héllo ✓ 日本 🙂"}}, {"other": {"S": "x"}}, {"s": {"NULL": True}}
    ]
    s = column(items, "s")
    assert s.dtype == STR
    assert s.tolist()[:2] == ["", "héllo ✓ 日本 🙂"]
    assert s.isna().tolist() == [False, False, True, True]


def test_integers_are_nullable_int64_up_to_the_int64_bounds():
    items = [{"n": {"N": v}} for v in ("1", "-2", "0", str(2**63 - 1), str(-(2**63)))]
    items.append({"n": {"NULL": True}})
    s = column(items, "n")
    assert s.dtype == "Int64"
    assert s.tolist() == [1, -2, 0, 2**63 - 1, -(2**63), pd.NA]


@pytest.mark.parametrize("big", [2**63, 2**63 + 1, -(2**63) - 1, 10**38])
def test_integers_beyond_int64_stay_exact_python_ints(big):
    s = column([{"n": {"N": str(big)}}, {"n": {"N": "5"}}, {}], "n")
    assert s.dtype == object
    assert s.tolist() == [big, 5, None]
    assert type(s[0]) is int


def test_decimals_become_float64_when_float_keeps_them():
    texts = ["0.1", "1.5", "-2.25", "1E+2", "3.141592653589793", "1e-130", "9.99E+125"]
    s = column([{"f": {"N": t}} for t in texts] + [{}], "f")
    assert s.dtype == "float64"
    assert s.tolist()[:-1] == [float(t) for t in texts]
    assert math.isnan(s.iloc[-1])


def test_a_decimal_float_would_change_makes_the_column_exact_decimals():
    s = column([{"f": {"N": "123456789.123456789"}}, {"f": {"N": "0.1"}}, {}], "f")
    assert s.dtype == object
    assert s.tolist() == [Decimal("123456789.123456789"), Decimal("0.1"), None]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["1", "2.5"], [1.0, 2.5]),  # ints and decimals, all exact in float64
        ([str(2**53), "0.5"], [float(2**53), 0.5]),
        ([str(2**53 + 1), "0.5"], [Decimal(2**53 + 1), Decimal("0.5")]),  # would round
        ([str(-(2**53) - 1), "0.5"], [Decimal(-(2**53) - 1), Decimal("0.5")]),
        ([str(2**63 + 1), "1.5"], [Decimal(2**63 + 1), Decimal("1.5")]),
    ],
)
def test_ints_mixed_with_decimals(texts, expected):
    s = column([{"n": {"N": t}} for t in texts], "n")
    assert s.tolist() == expected
    assert all(type(v) is type(e) for v, e in zip(s.tolist(), expected))


def test_numbers_decimal_option():
    items = [
        {"f": {"N": "0.1"}, "i": {"N": "7"}, "m": {"N": "3"}},
        {"f": {"N": "2"}, "i": {"N": "8"}, "m": {"N": "1.25"}},
    ]
    df = items_to_frame(items, numbers="decimal")
    assert df["f"].tolist() == [Decimal("0.1"), Decimal("2")]
    assert df["i"].dtype == "Int64"  # integers are exact anyway
    assert df["m"].tolist() == [Decimal(3), Decimal("1.25")]
    assert all(type(v) is Decimal for v in df["m"])


def test_precision_varying_between_pages_loads():
    # awswrangler fails here: decimal128(5, 3) vs decimal128(6, 3) cannot be merged.
    pages = [
        {"Items": [{"score": {"N": "12.345"}}, {"score": {"N": "1.5"}}]},
        {"Items": [{"score": {"N": "123.456"}}, {"score": {"N": "7"}}]},
        {"Items": [{"score": {"N": "0.000001"}}]},
    ]
    assert column(pages, "score").tolist() == [12.345, 1.5, 123.456, 7.0, 0.000001]
    exact = column(pages, "score", numbers="decimal").tolist()
    assert exact == [Decimal(t) for t in ("12.345", "1.5", "123.456", "7", "0.000001")]
    long_later = pages + [{"Items": [{"score": {"N": "1.00000000000000000001"}}]}]
    assert column(long_later, "score").iloc[-1] == Decimal("1.00000000000000000001")


def test_int_page_then_decimal_page():
    small = [{"Items": [{"n": {"N": "1"}}]}, {"Items": [{"n": {"N": "0.5"}}]}]
    assert column(small, "n").tolist() == [1.0, 0.5]
    big = [{"Items": [{"n": {"N": str(2**60)}}]}, {"Items": [{"n": {"N": "0.5"}}]}]
    assert column(big, "n").tolist() == [Decimal(2**60), Decimal("0.5")]
    huge = [{"Items": [{"n": {"N": str(2**70)}}]}, {"Items": [{"n": {"N": "3"}}, {}]}]
    assert column(huge, "n").tolist() == [2**70, 3, None]


def test_booleans_are_nullable_boolean():
    s = column([{"b": {"BOOL": True}}, {"b": {"BOOL": False}}, {"b": {"NULL": True}}, {}], "b")
    assert s.dtype == "boolean"
    assert s.tolist() == [True, False, pd.NA, pd.NA]


def test_binary_from_base64_text_or_bytes():
    items = [{"b": {"B": b64(b"\x00\xffhi")}}, {"b": {"B": ""}}, {"b": {"B": b"raw"}}, {}]
    assert column(items, "b").tolist() == [b"\x00\xffhi", b"", b"raw", None]


def test_null_only_column_and_missing_attributes():
    df = items_to_frame([{"a": {"NULL": True}, "b": {"S": "x"}}, {"b": {"S": "y"}}])
    assert list(df.columns) == ["a", "b"]
    assert df["a"].dtype == object and df["a"].tolist() == [None, None]


# ---------------------------------------------------------------------------------------------
# sets, maps, lists


SET_ITEMS = [
    {
        "ss": {"SS": ["b", "a", ""]},
        "ns": {"NS": ["3", "1.5", "-2", str(2**64)]},
        "bs": {"BS": [b64(b"\x02"), b64(b"\x01")]},
    },
    {},
]


def test_sets_are_python_sets_with_converted_elements():
    df = items_to_frame(SET_ITEMS)
    assert df["ss"][0] == {"a", "b", ""}
    assert df["ns"][0] == {3, Decimal("1.5"), -2, 2**64}
    assert {type(v) for v in df["ns"][0]} == {int, Decimal}
    assert df["bs"][0] == {b"\x01", b"\x02"}
    assert df.iloc[1].tolist() == [None, None, None]


def test_sets_as_sorted_lists():
    df = items_to_frame(SET_ITEMS, sets="list")
    assert df["ss"][0] == ["", "a", "b"]
    assert df["ns"][0] == [-2, Decimal("1.5"), 3, 2**64]
    assert df["bs"][0] == [b"\x01", b"\x02"]


NESTED = {
    "M": {
        "n": {"N": "1"},
        "d": {"N": "0.1"},
        "s": {"S": "x"},
        "inner": {
            "M": {"big": {"N": str(2**64)}, "l": {"L": [{"N": "2"}, {"S": "y"}, {"NULL": True}]}}
        },
        "tags": {"SS": ["b", "a"]},
        "bin": {"B": b64(b"z")},
        "flag": {"BOOL": False},
    }
}
NESTED_VALUE = {
    "n": 1,
    "d": Decimal("0.1"),
    "s": "x",
    "inner": {"big": 2**64, "l": [2, "y", None]},
    "tags": {"a", "b"},
    "bin": b"z",
    "flag": False,
}


def test_nested_maps_and_lists_convert_recursively():
    # Same keys in every map (converted column-wise) and irregular maps (one by one).
    records = [{"m": NESTED}, {"m": NESTED}, {"m": {"NULL": True}}]
    assert column(records, "m").tolist() == [NESTED_VALUE, NESTED_VALUE, None]
    irregular = [{"m": NESTED}, {"m": {"M": {"other": {"N": "5"}}}}, {"m": {"M": {}}}]
    assert column(irregular, "m").tolist() == [NESTED_VALUE, {"other": 5}, {}]
    lists = [{"l": {"L": [NESTED, {"L": []}, {"NS": ["1"]}]}}]
    assert column(lists, "l")[0] == [NESTED_VALUE, [], {1}]
    assert deserialize_value(NESTED, sets="list")["tags"] == ["a", "b"]


def test_nested_nulls_and_number_forms_are_kept():
    # A NULL inside a map is a key with None (an absent key stays absent); nested numbers keep
    # their written form: "1E+2" is a Decimal, not the int 100.
    items = [{"m": {"M": {"k": {"NULL": True}, "e": {"N": "1E+2"}, "n": {"N": "7"}}}},
             {"m": {"M": {"e": {"N": "5"}}}}]
    values = column(items, "m").tolist()
    assert values == [{"k": None, "e": Decimal("1E+2"), "n": 7}, {"e": 5}]
    assert str(values[0]["e"]) == "1E+2" and type(values[1]["e"]) is int
    every_key = [{"m": {"M": {"k": {"NULL": True}}}}, {"m": {"M": {"k": {"S": "x"}}}}]
    assert column(every_key, "m").tolist() == [{"k": None}, {"k": "x"}]
    listed = column([{"l": {"L": [{"N": "1E+2"}, {"N": "3"}, {"NULL": True}]}}], "l")[0]
    assert [type(v) for v in listed] == [Decimal, int, type(None)] and str(listed[0]) == "1E+2"


def test_flatten_maps_into_dotted_columns():
    items = [
        {
            "id": {"S": "1"},
            "address": {"M": {"city": {"S": "Lyon"}, "geo": {"M": {"lat": {"N": "45.75"}}}}},
        },
        {"id": {"S": "2"}, "address": {"S": "unknown"}},
        {"id": {"S": "3"}, "address": {"NULL": True}},
        {
            "id": {"S": "4"},
            "address": {"M": {"zip": {"S": "69001"}}},
            "address.zip": {"S": "literal"},
        },
        {"id": {"S": "5"}, "address": {"M": {}}},
    ]
    df = items_to_frame(items, flatten_maps=True)
    assert list(df.columns) == ["id", "address", "address.city", "address.geo.lat", "address.zip"]
    assert df["address.city"][0] == "Lyon"
    assert df["address.city"].isna().tolist() == [False, True, True, True, True]
    assert df["address.geo.lat"].dtype == "float64" and df["address.geo.lat"][0] == 45.75
    assert df["address"].tolist()[1] == "unknown" and df["address"].isna().sum() == 4
    assert df["address.zip"][3] == "literal"  # the attribute literally named so wins


def test_flatten_keeps_lists_and_sets_whole():
    items = [{"m": {"M": {"l": {"L": [{"N": "1"}]}, "s": {"SS": ["a"]}}}}]
    df = items_to_frame(items, flatten_maps=True)
    assert df["m.l"][0] == [1] and df["m.s"][0] == {"a"}


# ---------------------------------------------------------------------------------------------
# columns, pages, mixed types


def test_columns_from_every_item_in_order_keys_first():
    pages = [
        {"Items": [{"status": {"S": "a"}, "pk": {"S": "1"}}]},
        {"Items": [{"pk": {"S": "2"}, "name": {"S": "n"}, "date": {"S": "2024-01-01"}}]},
        {"Items": [{"pk": {"S": "3"}, "late": {"N": "4"}}]},
    ]
    df = items_to_frame(pages, key_names=["pk", "sk"])
    assert list(df.columns) == ["pk", "sk", "status", "name", "date", "late"]
    assert df["sk"].isna().all()
    assert df["late"].tolist() == [pd.NA, pd.NA, 4]
    assert df["name"].isna().tolist() == [True, False, True]


def test_mixed_type_column_holds_natural_values():
    values = [{"S": "a"}, {"N": "1"}, {"N": "1.5"}, {"BOOL": True}, {"B": b64(b"q")}]
    items = [{"x": v} for v in values] + [{}]
    expected = ["a", 1, Decimal("1.5"), True, b"q", None]
    values = column(items, "x").tolist()
    assert values == expected and [type(v) for v in values] == [type(v) for v in expected]
    across_pages = [{"Items": items[:1]}, {"Items": items[1:2]}, {"Items": items[3:4]}]
    assert column(across_pages, "x").tolist() == ["a", 1, True]


def test_empty_input():
    assert items_to_frame([]).shape == (0, 0)
    df = items_to_frame([{"Items": []}], key_names=["pk"])
    assert list(df.columns) == ["pk"] and len(df) == 0


def test_items_and_pages_can_be_mixed():
    item = {"Items": {"L": [{"S": "an attribute named Items"}]}, "pk": {"S": "1"}}
    page, item_list = {"Items": [{"pk": {"S": "2"}}]}, [{"pk": {"S": "3"}}]
    df = items_to_frame([item, page, item_list, {"pk": {"S": "4"}}])
    assert df["pk"].tolist() == ["1", "2", "3", "4"]
    assert df["Items"][0] == ["an attribute named Items"]


def test_resource_layer_items_are_refused_clearly():
    with pytest.raises(ValueError, match="wire format"):
        items_to_frame([{"a": "plain"}, {"a": "values"}])
    with pytest.raises(ValueError, match="wire format"):
        items_to_frame([{"a": 1}])


def random_items(rng: random.Random, n: int) -> list[dict]:
    def value():
        kind = rng.choice(["S", "N", "F", "BOOL", "SS", "M", "NULL", "B"])
        if kind == "S":
            return {"S": rng.choice(["", "x", "é"]) * rng.randint(0, 3)}
        if kind == "N":
            return {"N": str(rng.choice([0, -1, 2**53 + 1, 2**63 + 5, rng.randint(-99, 99)]))}
        if kind == "F":
            return {"N": rng.choice(["0.1", "1.50", "1E+2", "123456789.123456789", "-7.25"])}
        if kind == "BOOL":
            return {"BOOL": rng.random() < 0.5}
        if kind == "SS":
            return {"SS": ["a", "b"][: rng.randint(1, 2)]}
        if kind == "M":
            return {"M": {"k": {"N": str(rng.randint(0, 9))}, "s": {"S": "v"}}}
        if kind == "B":
            return {"B": b64(bytes([rng.randint(0, 255)]))}
        return {"NULL": True}

    items = []
    for i in range(n):
        item = {"pk": {"S": f"k{i}"}, "count": {"N": str(i)}, "name": {"S": f"n{i}"}}
        if i % 2:
            item["price"] = {"N": f"{i}.25"}
        if i > n // 2:
            item["late"] = {"S": "late"}
        if rng.random() < 0.5:
            item["any"] = value()
        item["stable"] = rng.choice([value(), {"S": "s"}]) if i % 50 == 49 else {"S": "s"}
        items.append(item)
    return items


def random_value(rng: random.Random, depth: int = 0) -> dict:
    """Any wire value, nested up to three levels (maps, lists, sets, NULLs, number forms)."""
    kinds = ["S", "N", "F", "BOOL", "NULL", "B", "SS", "NS", "BS"] + (["M", "L"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": rng.choice(["", "x", "2024-01-01", "é"])}
    if kind == "N":
        return {"N": str(rng.choice([0, -5, 2**63 + 3, 7]))}
    if kind == "F":
        return {"N": rng.choice(["0.1", "1.50", "-7.25", "1E+2", "5e-3"])}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "B":
        return {"B": b64(bytes([rng.randint(0, 255)]))}
    if kind in ("SS", "NS", "BS"):
        members = {"SS": ["a", "b"], "NS": ["1", "2.5"], "BS": [b64(b"q"), b64(b"")]}[kind]
        return {kind: members[: rng.randint(1, 2)]}
    if kind == "M":
        return {"M": {rng.choice("abcd"): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}}
    return {"L": [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


def exact(value):
    """A value with every leaf as its type and repr (so 1 ≠ True, Decimal("1.50") ≠ Decimal("1.5"))."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


@pytest.mark.parametrize("seed", range(6))
def test_nested_values_equal_deserialize_value_across_pages(seed):
    rng = random.Random(seed)
    items = [{"pk": {"S": str(i)}, "m": {"M": {"v": random_value(rng)}}, "any": random_value(rng)}
             for i in range(80)]
    df = items_to_frame([{"Items": items[:30]}, {"Items": items[30:]}])
    assert [exact(v) for v in df["m"]] == [exact(deserialize_value(i["m"])) for i in items]
    if df["any"].dtype == object:  # a single-type column may be typed (str, Int64, ...)
        assert [exact(v) for v in df["any"]] == [exact(deserialize_value(i["any"])) for i in items]


@pytest.mark.parametrize(
    "options", [{}, {"numbers": "decimal", "sets": "list"}, {"flatten_maps": True}]
)
def test_page_by_page_equals_all_at_once(options):
    items = random_items(random.Random(7), 400)
    whole = items_to_frame(items, key_names=["pk"], **options)
    builder = FrameBuilder(key_names=["pk"], **options)
    start = 0
    for size in (1, 7, 50, 100, 242):
        builder.add_page({"Items": items[start : start + size]})
        start += size
    assert builder.rows == 400
    # With flatten_maps a dotted column first seen in a later page comes after the earlier ones.
    reordered = bool(options.get("flatten_maps"))
    pd.testing.assert_frame_equal(builder.to_frame(), whole, check_like=reordered)


def test_options_are_checked():
    with pytest.raises(ValueError, match="numbers"):
        FrameBuilder(numbers="int")
    with pytest.raises(ValueError, match="sets"):
        items_to_frame([], sets="tuple")


# ---------------------------------------------------------------------------------------------
# single values and the way back


def test_deserialize_value():
    assert deserialize_value({"S": ""}) == ""
    assert deserialize_value({"N": "-0"}) == 0
    assert deserialize_value({"N": "1E+2"}) == Decimal("1E+2")
    assert deserialize_value({"NULL": True}) is None
    assert deserialize_value({"BS": [b64(b"")]}) == {b""}
    assert deserialize_value(NESTED) == NESTED_VALUE
    with pytest.raises(ValueError):
        deserialize_value({"X": "1"})
    with pytest.raises(ValueError):
        deserialize_value("S")


@pytest.mark.parametrize(
    "value",
    ["", "é", 0, -5, 2**70, Decimal("0.1"), True, None, b"", b"\x00", {"a", "b"},
     {1, Decimal("2.5")}, {b"x"}, [1, "a", [None]], {"m": {"n": 1, "l": [b"z"]}}],
)
def test_to_wire_round_trips(value):
    wire = to_wire(value)
    raw = json.loads(json.dumps(wire, default=b64))  # what the server sends back: B as base64
    assert deserialize_value(raw) == value


def test_to_wire_details():
    assert to_wire(1.5) == {"N": "1.5"}
    assert to_wire(True) == {"BOOL": True}  # not N: bool is an int subclass
    assert key_to_wire({"pk": "a", "sk": 3}) == {"pk": {"S": "a"}, "sk": {"N": "3"}}
    for bad in (set(), {1, "a"}, float("nan"), object()):
        with pytest.raises((TypeError, ValueError)):
            to_wire(bad)


# ---------------------------------------------------------------------------------------------
# export

EXPORT_ITEMS = [
    {
        "pk": {"S": "é1"},
        "n": {"N": "1"},
        "f": {"N": "0.5"},
        "b": {"BOOL": True},
        "exact": {"N": "123456789.123456789"},
        "big": {"N": str(2**64)},
        "bin": {"B": b64(b"\x00\x01")},
        "tags": {"SS": ["b", "a"]},
        "nums": {"NS": ["10", "2", "0.1"]},
        "doc": {
            "M": {
                "x": {"N": "1"},
                "d": {"N": "0.1"},
                "p": {"N": "1.00000000000000000001"},
                "y": {"B": b64(b"z")},
            }
        },
        "lst": {"L": [{"S": "a"}, {"N": "2"}]},
        "mixed": {"S": "text"},
    },
    {"pk": {"S": "2"}, "mixed": {"N": "5"}},
]
EXPORTED_TEXT = {
    "pk": ["é1", "2"],
    "n": ["1", ""],
    "f": ["0.5", ""],
    "b": ["True", ""],
    "exact": ["123456789.123456789", ""],
    "big": [str(2**64), ""],
    "bin": ["AAE=", ""],
    "tags": ['["a", "b"]', ""],
    "nums": ['[0.1, 2, 10]', ""],
    "doc": ['{"x": 1, "d": 0.1, "p": "1.00000000000000000001", "y": "eg=="}', ""],
    "lst": ['["a", 2]', ""],
    "mixed": ["text", "5"],
}


def test_frame_for_export_round_trips_csv_parquet_jsonl(tmp_path):
    df = items_to_frame(EXPORT_ITEMS, key_names=["pk"])
    out = frame_for_export(df)
    for name in ("n", "f", "b", "pk"):
        assert out[name].dtype == df[name].dtype  # typed columns are kept
    assert df["tags"][0] == {"a", "b"}  # the input frame is not changed

    out.to_csv(tmp_path / "t.csv", index=False)
    csv = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert {c: csv[c].tolist() for c in csv.columns} == EXPORTED_TEXT

    out.to_parquet(tmp_path / "t.parquet", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), out)

    out.to_json(tmp_path / "t.jsonl", orient="records", lines=True, force_ascii=False)
    lines = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["n"] == 1 and rows[0]["b"] is True and rows[0]["f"] == 0.5
    assert json.loads(rows[0]["doc"])["y"] == "eg==" and rows[0]["big"] == str(2**64)
    assert rows[1]["n"] is None and rows[1]["tags"] is None and rows[1]["mixed"] == "5"


# ---------------------------------------------------------------------------------------------
# rawpages without a server: botocore's retries still see the real response


def fake_client(responses: list[tuple[int, dict, bytes]]):
    """A client whose HTTP layer answers from `responses`; returns (client, calls made)."""
    session = boto3.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    retries = Config(retries={"mode": "standard", "total_max_attempts": 3})
    client = session.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=retries)
    calls = []

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    def answer(request, **_):
        status, headers, body = responses[len(calls)]
        calls.append(request)
        return AWSResponse(request.url, status, headers, Raw(body))

    client.meta.events.register("before-send.dynamodb.*", answer)
    return client, calls


PAGE_BODY = json.dumps(
    {"Items": [{"pk": {"S": "a"}, "b": {"B": b64(b"\x00")}}], "Count": 1, "ScannedCount": 1}
).encode()
CRC_OK = {"x-amz-crc32": str(zlib.crc32(PAGE_BODY))}


def test_crc32_mismatch_is_still_retried():
    client, calls = fake_client([(200, {"x-amz-crc32": "1"}, PAGE_BODY), (200, CRC_OK, PAGE_BODY)])
    page = scan_page(client, TableName="t")
    assert len(calls) == 2
    assert page["Items"] == [{"pk": {"S": "a"}, "b": {"B": "AA=="}}]  # raw: B is base64 text


def test_throttling_is_retried_and_raised_as_client_error(monkeypatch):
    delays = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", delays.append)  # botocore's backoff
    throttle = (
        400,
        {},
        b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
        b'"message":"slow down"}',
    )
    client, calls = fake_client([throttle, (200, CRC_OK, PAGE_BODY)])
    assert scan_page(client, TableName="t")["Count"] == 1 and len(calls) == 2
    client, calls = fake_client([throttle] * 3)
    with pytest.raises(ClientError) as err:
        scan_page(client, TableName="t")
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert len(calls) == 3 and len(delays) == 3  # one backoff per retry, in both clients


def test_the_hook_leaves_other_calls_normal():
    client, _ = fake_client([(200, CRC_OK, PAGE_BODY)] * 2)
    assert scan_page(client, TableName="t")["Items"][0]["b"] == {"B": "AA=="}
    assert client.scan(TableName="t")["Items"][0]["b"] == {"B": b"\x00"}  # botocore-parsed


# ---------------------------------------------------------------------------------------------
# rawpages against a real moto server


@pytest.fixture(scope="module")
def moto_client(sandbox):
    """The shared sandbox (moto over HTTP), as the main account's admin: a second in-process moto
    would share its state and its IAM enforcement, so the tests would depend on their order."""
    return sandbox.session("sandbox-main").client("dynamodb")


def make_item(i: int) -> dict:
    item = {
        "pk": {"S": f"item-{i:02d}"},
        "sk": {"N": str(i)},
        "name": {"S": ["", "héllo ✓", f"n{i}"][i % 3]},
        "status": {"S": "active"},
        "date": {"S": "2024-05-01"},
        "score": {"N": ["1.5", "12.345", "123.4567", "7"][i % 4]},
        "count": {"N": str(i * 1000)},
        "flag": {"BOOL": i % 2 == 0},
        "blob": {"B": bytes([i, 255])},
        "tags": {"SS": ["a", f"t{i}"]},
        "nums": {"NS": ["1", "2.5"]},
        "bins": {"BS": [b"\x01", bytes([i + 2])]},
        "doc": {"M": {"n": {"N": str(i)}, "l": {"L": [{"S": "x"}, {"N": "0.1"}]}}},
        "nothing": {"NULL": True},
    }
    if i % 5 == 0:
        item["big"] = {"N": str(2**63 + i)}
    if i % 7 == 0:
        item["mixed"] = {"S": "s"} if i % 2 else {"N": "3"}
    return item


@pytest.fixture(scope="module")
def table(moto_client):
    moto_client.create_table(
        TableName="convert-raw",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(50):
        moto_client.put_item(TableName="convert-raw", Item=make_item(i))
    yield "convert-raw"
    moto_client.delete_table(TableName="convert-raw")


def test_raw_scan_pages_cover_every_item_once(moto_client, table):
    seen, start, pages = [], None, 0
    while True:
        resume = {"ExclusiveStartKey": start} if start else {}
        page = scan_page(moto_client, TableName=table, Limit=7, **resume)
        pages += 1
        seen += [item["pk"]["S"] for item in page["Items"]]
        assert page["Count"] == len(page["Items"]) <= 7
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert pages >= 8
    assert sorted(seen) == sorted(f"item-{i:02d}" for i in range(50))
    assert len(seen) == 50


def test_binary_keys_paginate(moto_client):
    moto_client.create_table(
        TableName="convert-raw-bin",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )
    keys = {bytes([i, 0xFF]) for i in range(12)}
    for k in keys:
        moto_client.put_item(TableName="convert-raw-bin", Item={"k": {"B": k}})
    pages = list(iter_pages(moto_client, "scan", TableName="convert-raw-bin", Limit=5))
    got = [base64.b64decode(item["k"]["B"]) for page in pages for item in page["Items"]]
    assert len(got) == 12 and set(got) == keys
    assert isinstance(pages[0]["LastEvaluatedKey"]["k"]["B"], bytes)  # passable back as is


def test_raw_query_pages(moto_client, table):
    pages = list(iter_pages(moto_client, "query", TableName=table, KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "item-03"}}))
    assert [item["sk"] for page in pages for item in page["Items"]] == [{"N": "3"}]
    page = query_page(moto_client, TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "nope"}})
    assert page["Items"] == [] and page["Count"] == 0


def normalise(value):
    """Both sides in one vocabulary: numbers Decimal, binary bytes, sets frozen, NA None."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return Decimal(repr(float(value)))
    if isinstance(value, int | np.integer | Decimal):
        return Decimal(int(value)) if not isinstance(value, Decimal) else value
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, set | frozenset):
        return frozenset(map(normalise, value))
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def test_raw_frame_equals_boto3_deserialized_items(moto_client, table):
    pages = iter_pages(moto_client, "scan", TableName=table, Limit=9)
    df = items_to_frame(pages, key_names=["pk", "sk"])
    deserializer = TypeDeserializer()
    expected = {}
    for page in moto_client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            expected[item["pk"]["S"]] = {k: deserializer.deserialize(v) for k, v in item.items()}

    assert len(df) == 50 and set(df.columns) == set().union(*expected.values())
    assert list(df.columns[:2]) == ["pk", "sk"]
    assert df["sk"].dtype == "Int64" and df["score"].dtype == "float64"
    assert df["flag"].dtype == "boolean"
    assert df["big"].dtype == object and df["name"].dtype == STR
    for row in df.to_dict("records"):
        reference = expected[row["pk"]]
        for name, value in row.items():
            assert normalise(value) == normalise(reference.get(name)), (row["pk"], name)


def test_errors_keep_their_client_error_shape(moto_client, table):
    enable_raw_pages(moto_client)
    with pytest.raises(ClientError) as err:
        scan_page(moto_client, TableName="no-such-table")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        scan_page(moto_client, TableName=table, FilterExpression="a = ")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_normal_calls_on_the_same_and_other_clients_stay_parsed(moto_client, table):
    enable_raw_pages(moto_client)
    key = {"pk": {"S": "item-01"}, "sk": {"N": "1"}}
    parsed = moto_client.get_item(TableName=table, Key=key)["Item"]
    assert parsed["blob"] == {"B": b"\x01\xff"}
    scanned = moto_client.scan(TableName=table, Limit=1)["Items"][0]
    assert isinstance(scanned["blob"]["B"], bytes)
    raw = scan_page(moto_client, TableName=table, Limit=1)["Items"][0]
    assert isinstance(raw["blob"]["B"], str)


def test_gc_paused_restores_the_collector_state():
    was_enabled = gc.isenabled()
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            with gc_paused():
                assert not gc.isenabled()
            assert gc.isenabled() is before
    finally:
        (gc.enable if was_enabled else gc.disable)()
