"""The package's converter (parsed pages → typed Arrow table, lossless mode → pandas) gives the
same frames as the old converter of the tag structs (tests/frame_oracle.py), value for value —
types and written forms included (``Decimal("1.50")`` is not ``Decimal("1.5")``, ``1`` is not
``True``), absent map members absent and NULL members ``None`` — for random items and pages."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frame_oracle import FrameBuilder as OracleBuilder
from xacct_nb.dynamo.arrow_parse import ArrowPages
from xacct_nb.dynamo.to_pandas import FrameBuilder, items_to_frame, with_nullable_dtypes

NUMBER_TEXTS = st.one_of(
    st.integers(-99, 99).map(str),
    st.sampled_from(["0", "-0", "9007199254740993", "-9007199254740992", "9223372036854775807",
                     "-9223372036854775808", "9223372036854775808", "123456789012345678901234567890",
                     "1" * 40, "0.1", "1.50", "-7.25", "1E+2", "5e-3", "1.0E-130", "9.9E+125",
                     "123456789.123456789", "0.30000000000000004", "3.14159265358979323846",
                     "-0.000", "100", "1e0"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10**6,
                max_value=10**6).map(str),
)
B64 = st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())
NAMES = st.sampled_from(["a", "b", "c", "S", "N", "x.y"])


def scalars() -> st.SearchStrategy[dict]:
    return st.one_of(
        st.builds(lambda s: {"S": s}, st.sampled_from(["", "x", "é", "2024-01-01", "a b"])),
        st.builds(lambda n: {"N": n}, NUMBER_TEXTS),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda b: {"B": b}, B64),
        st.builds(lambda m: {"SS": sorted(m)}, st.sets(st.sampled_from(["a", "b", "é"]), min_size=1)),
        st.builds(lambda m: {"NS": sorted(m)}, st.sets(NUMBER_TEXTS, min_size=1, max_size=3)),
        st.builds(lambda m: {"BS": sorted(m)}, st.sets(B64, min_size=1, max_size=3)),
    )


def wire_values() -> st.SearchStrategy[dict]:
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.builds(lambda m: {"M": m}, st.dictionaries(NAMES, inner, max_size=4)),
            st.builds(lambda values: {"L": values}, st.lists(inner, max_size=3)),
            # lists of maps, the maps' members absent or NULL now and then
            st.builds(lambda maps: {"L": [{"M": m} for m in maps]},
                      st.lists(st.dictionaries(NAMES, inner, max_size=3), max_size=3)),
        ),
        max_leaves=8,
    )


# One attribute keeps one type family most of the time, as tables do; "any" takes anything.
ITEMS = st.lists(
    st.fixed_dictionaries(
        {"pk": st.integers(0, 10**6).map(lambda i: {"S": f"k{i}"})},
        optional={
            "n": st.builds(lambda n: {"N": n}, NUMBER_TEXTS) | st.just({"NULL": True}),
            "m": st.builds(lambda m: {"M": m}, st.dictionaries(NAMES, wire_values(), max_size=4)),
            "lines": st.builds(lambda maps: {"L": [{"M": m} for m in maps]},
                               st.lists(st.dictionaries(NAMES, scalars(), max_size=3), max_size=3)),
            "tags": scalars(),
            "any": wire_values(),
        },
    ),
    max_size=12,
)


def exact(value):
    """Every leaf as its type and repr (1 ≠ True, Decimal("1.50") ≠ Decimal("1.5"))."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if value is None or value is pd.NA or value != value:  # None, NA, NaN
        return "missing"
    return repr(value)


def frames(pages: list[list[dict]], options: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new and the old converter's frames of the same parsed pages."""
    new, old = FrameBuilder(key_names=["pk"], **options), OracleBuilder(key_names=["pk"], **options)
    parser = ArrowPages()
    for page in pages:
        items = parser.parse(json.dumps({"Items": page, "Count": len(page)}).encode())["Items"]
        new.add_items(items)
        old.add_items(items)
    return new.to_frame(), old.to_frame()


def assert_same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(new, old)
    for name in new.columns:  # assert_frame_equal compares objects with ==: look closer
        assert [exact(v) for v in new[name]] == [exact(v) for v in old[name]], name


OPTIONS = [{}, {"numbers": "decimal"}, {"sets": "list"}, {"flatten_maps": True}]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(map(str, o.values())) or "default")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=ITEMS, cuts=st.lists(st.integers(0, 12), max_size=2))
def test_the_typed_path_gives_the_old_converters_frame(options, items, cuts):
    bounds = [0, *sorted(c for c in cuts if c <= len(items)), len(items)]
    pages = [items[a:b] for a, b in zip(bounds, bounds[1:])]
    new, old = frames(pages, options)
    assert_same(new, old)
    # numpy_nullable is the same frame with nullable dtypes (the pyarrow backend is the typed
    # table of the whole read itself, unchanged: tests/test_arrow.py)
    assert_same(with_nullable_dtypes(new), with_nullable_dtypes(old))


def test_absent_and_null_members_stay_apart_at_every_depth():
    items = [{"pk": {"S": "1"}, "m": {"M": {"a": {"N": "1"}}},
              "l": {"L": [{"M": {"a": {"NULL": True}}}, {"M": {"b": {"S": "x"}}}]}},
             {"pk": {"S": "2"}, "m": {"M": {"a": {"N": "1"}, "b": {"NULL": True},
                                           "c": {"M": {"d": {"NULL": True}}}}}}]
    new, old = frames([items], {})
    assert new["m"].tolist() == [{"a": 1}, {"a": 1, "b": None, "c": {"d": None}}]
    assert new["l"].tolist() == [[{"a": None}, {"b": "x"}], None]
    assert_same(new, old)


def test_nested_numbers_keep_their_written_form():
    items = [{"pk": {"S": "1"}, "m": {"M": {"v": {"N": "1E+2"}, "w": {"N": "1.50"}}},
              "s": {"NS": ["1", "2.50"]}}]
    new, _ = frames([items], {})
    assert exact(new["m"][0]) == {"v": "Decimal('1E+2')", "w": "Decimal('1.50')"}
    assert exact(new["s"][0]) == ["1", "Decimal('2.50')"]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "+1", "1,5", ""])
def test_a_number_that_is_no_dynamodb_number_is_refused(text):
    """The old converter made "NaN" a float NaN and "Infinity" inf: never a number to keep."""
    with pytest.raises(ValueError, match="not a DynamoDB number"):
        items_to_frame([{"pk": {"S": "1"}, "n": {"N": "1.5"}}, {"pk": {"S": "2"}, "n": {"N": text}}])
