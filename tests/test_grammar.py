"""One grammar for what people type (xacct_nb.grammar), and proof that the CLI, the explorer
panel and the Python API give the same text the same meaning.
"""

from __future__ import annotations

import argparse
from decimal import Decimal

import pytest

from xacct_nb import RemoteTable
from xacct_nb.cli import build_parser, read_request
from xacct_nb.errors import InputError
from xacct_nb.grammar import (
    key_value,
    literal,
    parse_assignments,
    parse_filters,
    parse_key,
    parse_projection,
    parse_sort,
    split_list,
)
from xacct_nb.widgets import ExplorerPanel

# --- pure parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("42", 42), ("-3", -3), ("4.50", Decimal("4.50")), ("1e3", Decimal("1E+3")),
    ("007", "007"), ("+5", "+5"), (".5", ".5"), ("1.", "1."),  # not JSON numbers: text
    ("true", True), ("false", False), ("TRUE", "TRUE"), ("True", "True"),
    ("'42'", "42"), ('"true"', "true"), ("C0007", "C0007"), ("  padded  ", "padded"), ("", ""),
])
def test_literal_follows_json(text, value):
    assert literal(text) == value and type(literal(text)) is type(value)


@pytest.mark.parametrize(("type_", "given", "wire"), [
    ("S", "007", {"S": "007"}), ("N", "007", {"N": "7"}), ("N", 7, {"N": "7"}),
    ("N", "4.50", {"N": "4.50"}), ("N", " 12 ", {"N": "12"}), ("N", Decimal("1E+3"), {"N": "1E+3"}),
    ("N", str(2**70), {"N": str(2**70)}), ("S", 7, {"S": "7"}),
    ("B", "AAE=", {"B": b"\x00\x01"}), ("B", b"\xff", {"B": b"\xff"}),
])
def test_key_values_take_the_keys_type(type_, given, wire):
    assert key_value("k", type_, given, "table t") == wire


@pytest.mark.parametrize(("type_", "given"), [("N", "abc"), ("N", "nan"), ("N", True), ("B", "not base64!"),
                                              ("S", True), ("N", float("inf"))])
def test_key_values_that_cannot_be_of_the_type(type_, given):
    with pytest.raises(InputError, match=f"key k of table t is of type {type_}"):
        key_value("k", type_, given, "table t")


def test_filters_both_spellings():
    assert parse_filters("status=SHIPPED, amount>100, name^=Ali, tags~=blue, q!=3, n<>4, "
                         "a between 1 and 5, b between x..y, c exists, d not_exists, e='42'") == {
        "status": "SHIPPED", "amount": (">", 100), "name": ("begins_with", "Ali"),
        "tags": ("contains", "blue"), "q": ("<>", 3), "n": ("<>", 4), "a": ("between", 1, 5),
        "b": ("between", "x", "y"), "c": ("exists",), "d": ("not_exists",), "e": "42"}
    assert parse_filters("name begins_with Ali, tags contains blue") == \
        parse_filters(["name^=Ali", "tags~=blue"])
    assert parse_filters("note='a, b', x=1") == {"note": "a, b", "x": 1}  # a quoted comma is text
    assert parse_filters("") == {} and parse_filters("  ") == {}
    assert parse_filters("title=a contains b") == {"title": "a contains b"}  # the value holds a word


def test_filters_on_key_attributes_are_typed_by_the_key():
    assert parse_filters("customer_id=007, n=007", key_types={"customer_id": "S"}) == \
        {"customer_id": "007", "n": "007"}
    assert parse_filters("customer_id=007", key_types={"customer_id": "N"}) == {"customer_id": 7}


@pytest.mark.parametrize(("text", "needle"), [
    ("just words", "write NAME=VALUE"), ("a=", "value is missing"), ("a between 1", "LOW and HIGH"),
    ("c exists now", "takes no value"), ("a=1, a=2", "two conditions"),
])
def test_filter_errors_are_one_line_and_name_the_field(text, needle):
    with pytest.raises(InputError) as err:
        parse_filters(text, field="--filter")
    assert str(err.value).startswith("--filter ") and needle in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "condition"), [
    ("= 5", ("=", "5")), (">=:2026-01", (">=", "2026-01")), ("< 007", ("<", "007")),
    ("^= O00", ("begins_with", "O00")), ("begins_with:O00", ("begins_with", "O00")),
    ("between 2026-01 and 2026-02", ("between", "2026-01", "2026-02")),
    ("between:a:b", ("between", "a", "b")), ("between:10:00..11:00", ("between", "10:00", "11:00")),
    ("'= x'", None), ("", None),
])
def test_sort_conditions(text, condition):
    if condition is None and text:
        with pytest.raises(InputError, match="sort"):
            parse_sort(text)
    else:
        assert parse_sort(text) == condition


def test_keys_projections_and_assignments():
    assert parse_key("customer_id=007") == {"customer_id": "007"} and parse_key(" C0001 ") == "C0001"
    assert parse_key("'a=b'") == "a=b"
    with pytest.raises(InputError, match="partition key is customer_id"):
        parse_key("order_id=1", partition_key="customer_id")
    assert parse_projection("name, shipping.city,lines[0].sku") == ["name", ("shipping", "city"),
                                                                     ("lines", 0, "sku")]
    assert parse_assignments(["confirm=ab=cd", "limit=5"]) == {"confirm": "ab=cd", "limit": "5"}
    with pytest.raises(InputError, match="-p 'oops': expected KEY=VALUE"):
        parse_assignments(["oops"])
    assert split_list("a, 'b, c', d") == ["a", "'b, c'", "d"]


# --- the same text everywhere: CLI, panel, API --------------------------------------------------

TABLES = {"grammar-skey": "S", "grammar-nkey": "N"}
STORED = ["007", "7", "0070"]  # as S; as N these are 7, 7 (twice → one item), 70


@pytest.fixture(scope="module")
def keyed_tables(sandbox):
    """Two tables whose partition and sort keys are S or N; the admin session reads them."""
    session = sandbox.session("sandbox-main")
    ddb = session.client("dynamodb")
    for name, type_ in TABLES.items():
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": type_},
                                               {"AttributeName": "sk", "AttributeType": type_}])
        for text in STORED:
            ddb.put_item(TableName=name, Item={"pk": {type_: text}, "sk": {type_: text},
                                               "label": {"S": f"{type_}:{text}"}})
    yield session
    for name in TABLES:
        ddb.delete_table(TableName=name)


def _cli(session, table: str, key: str, sort: str | None) -> list[str]:
    argv = ["query", "--params", "unused.yaml", "--table", table, "--key", key, "--out", "x.csv"]
    args = build_parser().parse_args(argv + (["--sort", sort] if sort else []))
    request = read_request("query", args, granted=list(TABLES))["read"]
    df = RemoteTable(session, table).query(request.pop("partition_value"), **request)
    return sorted(df["label"])


def _panel(session, table: str, key: str, sort: str | None) -> list[str]:
    panel = ExplorerPanel(session, list(TABLES))
    panel.table.value, panel.mode.value, panel.key.value = table, "query", key
    if sort:
        op, value = sort.split(" ", 1)
        panel.sort_op.value, panel.sort_value.value = op, value
    df = panel.run()
    assert panel.error is None, panel.error
    return sorted(df["label"])


def _api(session, table: str, key: str, sort: str | None) -> list[str]:
    condition = tuple(sort.split(" ", 1)) if sort else None
    return sorted(RemoteTable(session, table).query(key, sort=condition)["label"])


@pytest.mark.parametrize(("table", "key", "sort", "labels"), [
    ("grammar-skey", "007", None, ["S:007"]),          # text stays text for a string key
    ("grammar-nkey", "007", None, ["N:7"]),            # …and is the number 7 for a number key
    ("grammar-skey", "0070", "= 0070", ["S:0070"]),
    ("grammar-nkey", "70", "= 0070", ["N:0070"]),
    ("grammar-nkey", "7", ">= 007", ["N:7"]),
    ("grammar-skey", "7", ">= 007", ["S:7"]),
])
def test_same_text_same_value_in_cli_panel_and_api(keyed_tables, table, key, sort, labels):
    results = {way.__name__: way(keyed_tables, table, key, sort) for way in (_cli, _panel, _api)}
    assert results == {"_cli": labels, "_panel": labels, "_api": labels}


def test_cli_parses_filters_with_the_grammar():
    args = argparse.Namespace(table="t", out="x.csv", limit=None, max_rcu=None, index=None,
                              filter=["status=SHIPPED, amount>100", "code=007"], projection="a,b",
                              segments=1, all=False)
    read = read_request("scan", args, granted=["t"])["read"]
    assert read["filter"] == parse_filters("status=SHIPPED, amount>100, code=007")
    assert read["projection"] == ["a", "b"]


# --- names and paths: a bare a.b is a path, "a.b" (double quotes) one name -----------------------

@pytest.mark.parametrize("text,expected", [
    ('"a.b"=dot', {"a.b": "dot"}),
    ("a.b=dot", {("a", "b"): "dot"}),
    ('"x[0]"=1', {"x[0]": 1}),
    ("lines[0].sku=X", {("lines", 0, "sku"): "X"}),
    ('"order date">2026', {"order date": (">", 2026)}),
    ('"my attr" exists', {"my attr": ("exists",)}),
    ('shipping."post code"^=75', {("shipping", "post code"): ("begins_with", 75)}),
    ('"a=b"=c', {"a=b": "c"}),
    ('"say ""hi"""=1', {'say "hi"': 1}),
    ('name="42"', {"name": "42"}),
    ('"a,b"=1, c=2', {"a,b": 1, "c": 2}),
])
def test_quoted_names_in_filters(text, expected):
    assert parse_filters(text) == expected


def test_quoted_names_in_projections_and_round_trip():
    from xacct_nb.grammar import parse_path, show_path

    got = parse_projection('name, shipping.city, "a.b", x[0], "x[0]", m[1][2].k, "a b"')
    assert got == ["name", ("shipping", "city"), "a.b", ("x", 0), "x[0]", ("m", 1, 2, "k"), "a b"]
    for path in got:
        assert parse_path(show_path(path)) == path


@pytest.mark.parametrize("text", ["a..b", ".a", "a.", "a b", '"open', "x[a]", "[0]", '""', "a[0]b"])
def test_what_is_not_a_name_or_path_is_refused(text):
    with pytest.raises(InputError, match="double quotes"):
        parse_projection(text)


# --- typos fail fast: an unknown operator is an error listing the valid ones ---------------------

SORT_TYPOS = [">> O1", "=< O1", "=> O1", "== O1", "<> O1", "!= O1", "~= O1", "<< O1", ">>= O1",
              "=<:O1", "^^= O1", "! O1"]
FILTER_TYPOS = ["balance >> 5", "balance =< 5", "balance => 5", "balance == 5", "balance =! 5",
                "balance << 5", "balance >=< 5", "name ^^= Ali", "tags ~ blue", "a!5", "a=>5"]
# An unquoted value that starts with an operator character is a typo too (quote it if meant).
VALUE_TYPOS = [("filter", "balance > >5"), ("filter", "balance = =5"), ("filter", "a != <x"),
               ("sort", "> >O1"), ("sort", "= =O1"), ("sort", "^= ~x")]


@pytest.mark.parametrize("text", SORT_TYPOS)
def test_sort_typos_are_unknown_operators(text):
    with pytest.raises(InputError) as err:
        parse_sort(text, field="--sort")
    token = text.split()[0].split(":")[0]
    assert str(err.value) == (f"--sort {text!r}: unknown operator {token!r} — valid: "
                              "= < <= > >= ^= (begins_with) between")


@pytest.mark.parametrize("text", FILTER_TYPOS)
def test_filter_typos_are_unknown_operators(text):
    with pytest.raises(InputError) as err:
        parse_filters(text, field="--filter")
    message = str(err.value)
    assert message.startswith(f"--filter {text!r}: unknown operator ") and "\n" not in message
    assert message.endswith("valid: = != <> < <= > >= ^= (begins_with) ~= (contains) between exists not_exists")


@pytest.mark.parametrize(("kind", "text"), VALUE_TYPOS)
def test_values_starting_with_an_operator_character_must_be_quoted(kind, text):
    with pytest.raises(InputError, match="the value starts with .* quote it if it is text"):
        parse_filters(text) if kind == "filter" else parse_sort(text)


def test_quoted_values_may_start_with_operator_characters():
    assert parse_filters("note='>5', code=\"=x\"") == {"note": ">5", "code": "=x"}
    assert parse_sort("= '>O1'") == ("=", ">O1") and parse_sort("^= '<<'") == ("begins_with", "<<")
    assert parse_sort("between '>a' and '<b'") == ("between", ">a", "<b")


def test_cli_sort_typo_exits_2_with_one_line_before_any_aws_call(tmp_path, capsys, monkeypatch):
    from xacct_nb.cli import main

    monkeypatch.setattr("xacct_nb.sessions.assume_from_spec", _no_aws)
    argv = ["query", "--params", "params/local.yaml", "--table", "orders", "--key", "C0007",
            "--sort", ">> O1", "--out", str(tmp_path / "x.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == ("xacct-nb: error: --sort '>> O1': unknown operator '>>' — valid: = < <= > >= ^= "
                   "(begins_with) between\n")
    assert main(["scan", "--params", "params/local.yaml", "--table", "orders", "--filter", "balance >> 5",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "--filter 'balance >> 5': unknown operator '>>'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def _no_aws(*_args, **_kwargs):
    raise AssertionError("the read was started")


def test_panel_filter_typo_never_reaches_the_server(keyed_tables, monkeypatch):
    import botocore.client

    reads: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def spy(self, operation_name, api_params):
        if operation_name in ("Scan", "Query"):
            reads.append(operation_name)
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    panel = ExplorerPanel(keyed_tables, list(TABLES))
    panel.table.value, panel.mode.value, panel.filter.value = "grammar-nkey", "scan", "label >> 5"
    assert panel.run() is None
    assert "unknown operator '>>'" in panel.error and reads == []
    panel.filter.value = "label = 'S:7'"  # the spy does see reads that happen
    panel.run()
    assert reads == ["Scan"]


def test_api_rejects_unknown_operators_too(keyed_tables):
    table = RemoteTable(keyed_tables, "grammar-nkey")
    for sort in ((">>", "7"), ("==", "7"), ("<>", "7")):
        with pytest.raises(InputError, match="use \\(op, value\\) with op one of"):
            table.query("7", sort=sort)
    for condition in ((">>", 5), ("==", 5), ("=<", 5)):
        with pytest.raises(InputError, match="is not a condition"):
            table.scan(filter={"label": condition})
