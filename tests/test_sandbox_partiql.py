"""PartiQL WHERE clauses on the sandbox answer as DynamoDB does, or are refused in one line
(patches_partiql, partiql_where). Stock moto 5.2.5 answers most of these forms wrongly without a
word (BETWEEN, IN, begins_with, NOT, <>, numbers, nested paths: 0 rows or the wrong rows).

Every expectation is computed independently: the same items as plain Python values, filtered by
a Python predicate written for each case — never by the sandbox's evaluator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from xacct_nb.partiql import tokens
from xacct_nb.sandbox import partiql_where

TABLE = "partiql-probe"  # a hyphenated name: it must be quoted in PartiQL
ITEMS = [
    {"pk": "P1", "sk": "O001", "n": Decimal(5), "s": "alpha", "tags": {"a", "b"}, "nums": {Decimal(1), Decimal(7)},
     "m": {"x": Decimal(1), "y": "q"}, "l": [Decimal(1), "two"], "flag": True, "nul": None, "Upper": "case",
     "bin": Binary(b"\x01\x02")},
    {"pk": "P1", "sk": "O002", "n": Decimal(15), "s": "beta", "m": {"x": Decimal(2)}, "flag": False,
     "bin": Binary(b"\xff")},
    {"pk": "P1", "sk": "O010", "n": Decimal(-3), "s": "10"},
    {"pk": "P1", "sk": "A001", "n": Decimal("5.0"), "l": ["two"]},
    {"pk": "P2", "sk": "O003", "s": "alphabet", "n": Decimal(100), "tags": {"c"}},
    {"pk": "P2", "sk": "O004", "s": "Zed", "n": Decimal("0.5")},
]


def _has(item, name, kind):
    return name in item and isinstance(item[name], kind) and not isinstance(item[name], bool)


# (id, WHERE clause, parameters, the items DynamoDB returns, as a Python predicate)
CASES = [
    ("eq-key", "pk = 'P1'", [], lambda i: i["pk"] == "P1"),
    ("eq-number", "n = 5", [], lambda i: i["n"] == 5),
    ("eq-number-other-form", "n = 5.00", [], lambda i: i["n"] == 5),
    ("eq-negative", "n = -3", [], lambda i: i["n"] == -3),
    ("eq-parameter", "pk = ? AND sk = ?", [{"S": "P2"}, {"S": "O003"}], lambda i: (i["pk"], i["sk"]) == ("P2", "O003")),
    ("eq-string-is-not-number", "s = 10", [], lambda i: False),
    ("eq-number-is-not-string", "n = '5'", [], lambda i: False),
    ("ne-key", "sk <> 'O001'", [], lambda i: i["sk"] != "O001"),
    ("ne-bang", "sk != 'O001'", [], lambda i: i["sk"] != "O001"),
    ("ne-other-type", "n <> '5'", [], lambda i: True),
    ("lt-string", "sk < 'O002'", [], lambda i: i["sk"] < "O002"),
    ("lt-string-case", "s < 'a'", [], lambda i: i["s"] < "a" if "s" in i else False),
    ("le-number", "n <= 5", [], lambda i: i["n"] <= 5),
    ("gt-number", "n > 4", [], lambda i: i["n"] > 4),
    ("ge-parameter", "n >= ?", [{"N": "15"}], lambda i: i["n"] >= 15),
    ("gt-number-vs-string-attr", "s > 5", [], lambda i: False),
    ("between-key", "sk BETWEEN 'O001' AND 'O005'", [], lambda i: "O001" <= i["sk"] <= "O005"),
    ("between-number", "n BETWEEN 0 AND 10", [], lambda i: 0 <= i["n"] <= 10),
    ("between-parameters", "n BETWEEN ? AND ?", [{"N": "-5"}, {"N": "1"}], lambda i: -5 <= i["n"] <= 1),
    ("between-and-key", "pk = 'P1' AND sk BETWEEN 'O' AND 'P'", [],
     lambda i: i["pk"] == "P1" and "O" <= i["sk"] <= "P"),
    ("not-between", "NOT n BETWEEN 0 AND 10", [], lambda i: not 0 <= i["n"] <= 10),
    ("in-brackets", "sk IN ['O001', 'O003']", [], lambda i: i["sk"] in ("O001", "O003")),
    ("in-parentheses", "n IN (5, 100)", [], lambda i: i["n"] in (5, 100)),
    ("not-in", "sk NOT IN ['O001', 'O003']", [], lambda i: i["sk"] not in ("O001", "O003")),
    ("begins-with-key", "begins_with(sk, 'O00')", [], lambda i: i["sk"].startswith("O00")),
    ("begins-with-upper", "BEGINS_WITH(\"sk\", 'A')", [], lambda i: i["sk"].startswith("A")),
    ("begins-with-parameter", "begins_with(s, ?)", [{"S": "alpha"}], lambda i: i.get("s", "").startswith("alpha")),
    ("begins-with-binary", "begins_with(bin, ?)", [{"B": b"\x01"}],
     lambda i: "bin" in i and bytes(i["bin"].value).startswith(b"\x01")),
    ("begins-with-number-attr", "begins_with(n, '5')", [], lambda i: False),
    ("contains-string", "contains(s, 'pha')", [], lambda i: "pha" in i.get("s", "")),
    ("contains-string-set", "contains(tags, 'a')", [], lambda i: "a" in i.get("tags", ())),
    ("contains-number-set", "contains(nums, 7)", [], lambda i: 7 in i.get("nums", ())),
    ("contains-list", "contains(l, 'two')", [], lambda i: "two" in i.get("l", ())),
    ("is-missing", "s IS MISSING", [], lambda i: "s" not in i),
    ("is-not-missing", "s IS NOT MISSING", [], lambda i: "s" in i),
    ("is-null", "nul IS NULL AND nul IS NOT MISSING", [], lambda i: "nul" in i and i["nul"] is None),
    ("attribute-type", "attribute_type(tags, 'SS')", [], lambda i: isinstance(i.get("tags"), set)),
    ("and", "pk = 'P1' AND n > 4", [], lambda i: i["pk"] == "P1" and i["n"] > 4),
    ("or-binds-looser-than-and", "sk = 'O003' OR pk = 'P1' AND n = 15", [],
     lambda i: i["sk"] == "O003" or (i["pk"] == "P1" and i["n"] == 15)),
    ("parentheses", "(sk = 'O003' OR pk = 'P1') AND n = 15", [],
     lambda i: (i["sk"] == "O003" or i["pk"] == "P1") and i["n"] == 15),
    ("not", "NOT sk = 'O001'", [], lambda i: i["sk"] != "O001"),
    ("nested-map", "m.x = 2", [], lambda i: i.get("m", {}).get("x") == 2),
    ("nested-quoted", "\"m\".\"y\" = 'q'", [], lambda i: i.get("m", {}).get("y") == "q"),
    ("list-index", "l[1] = 'two'", [], lambda i: len(i.get("l", [])) > 1 and i["l"][1] == "two"),
    ("names-are-case-sensitive", "upper = 'case'", [], lambda i: False),
    ("names-are-case-sensitive-2", "\"Upper\" = 'case'", [], lambda i: i.get("Upper") == "case"),
    ("keywords-any-case", "pk = 'P2' and n between 0 and 1", [], lambda i: i["pk"] == "P2" and 0 <= i["n"] <= 1),
    ("boolean", "flag = true", [], lambda i: i.get("flag") is True),
    ("string-with-keywords", "s = 'x WHERE y'' OR 1=1'", [], lambda i: False),
]

# (id, statement tail after FROM, words the one-line refusal must contain)
REFUSED = [
    ("attribute-exists", "WHERE attribute_exists(s)", "attribute_exists"),
    ("size", "WHERE size(s) > 3", "SIZE"),
    ("order-by", "WHERE pk = 'P1' ORDER BY sk DESC", "ORDER BY"),
    ("ne-on-missing", "WHERE s <> 'alpha'", "s <> alpha"),
    ("not-on-missing", "WHERE NOT s = 'alpha'", "NOT"),
    ("is-null-on-missing", "WHERE nul IS NULL", "nul IS NULL"),
    ("between-reversed", "WHERE n BETWEEN 10 AND 0", "BETWEEN"),
    ("arithmetic", "WHERE n + 1 > 3", "arithmetic"),
    ("list-literal", "WHERE l = [1, 'two']", "list, map or set literals"),
]


@pytest.fixture(scope="module")
def ddb(sandbox):
    client = sandbox.session("sandbox-main").client("dynamodb")
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
    serializer = TypeSerializer()
    for item in ITEMS:
        client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()})
    yield client
    client.delete_table(TableName=TABLE)


def _keys(rows):
    return sorted((row["pk"]["S"], row["sk"]["S"]) for row in rows)


def _select(ddb, where, parameters=()):
    kwargs = {"Parameters": list(parameters)} if parameters else {}
    return _keys(ddb.execute_statement(Statement=f'SELECT * FROM "{TABLE}" WHERE {where}', **kwargs)["Items"])


def _refusal(call):
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException" and "\n" not in error["Message"], error
    return error["Message"]


@pytest.mark.parametrize(("where", "parameters", "predicate"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_where_answers_as_dynamodb(ddb, where, parameters, predicate):
    expected = sorted((item["pk"], item["sk"]) for item in ITEMS if predicate(item))
    assert _select(ddb, where, parameters) == expected


def test_the_cases_are_not_vacuous():
    """Most cases select some but not all items, so 'nothing' or 'everything' cannot pass them."""
    proper = [case for case in CASES if 0 < sum(map(case[3], ITEMS)) < len(ITEMS)]
    assert len(proper) >= len(CASES) - 8


@pytest.mark.parametrize(("tail", "named"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_what_the_sandbox_cannot_evaluate_is_refused_in_one_line(ddb, tail, named):
    message = _refusal(lambda: ddb.execute_statement(Statement=f'SELECT * FROM "{TABLE}" {tail}'))
    assert named in message and "sandbox" in message


def test_a_refusal_is_per_item_not_per_form(ddb):
    # `<>` on an attribute every item has is answered; only an item without it is undecidable
    assert _select(ddb, "n <> 5") == sorted((i["pk"], i["sk"]) for i in ITEMS if i["n"] != 5)
    assert _select(ddb, "s IS NOT MISSING AND s <> 'alpha'") == sorted(
        (i["pk"], i["sk"]) for i in ITEMS if "s" in i and i["s"] != "alpha")


def test_parameters_must_match_the_placeholders(ddb):
    assert "Number of parameters" in _refusal(lambda: ddb.execute_statement(
        Statement=f'SELECT * FROM "{TABLE}" WHERE pk = ?', Parameters=[{"S": "P1"}, {"S": "x"}]))
    assert "Number of parameters" in _refusal(lambda: ddb.execute_statement(
        Statement=f'SELECT * FROM "{TABLE}" WHERE pk = ?'))


def test_limit_is_refused_not_ignored(ddb):
    # moto returned every match whatever Limit said; the panel and the CLI page with NextToken only
    assert "Limit=2" in _refusal(lambda: ddb.execute_statement(Statement=f'SELECT * FROM "{TABLE}"', Limit=2))


def test_projection_still_works_on_the_matching_items(ddb):
    rows = ddb.execute_statement(Statement=f'SELECT sk FROM "{TABLE}" WHERE begins_with(sk, \'O00\') AND pk = \'P1\'')
    assert sorted(row["sk"]["S"] for row in rows["Items"]) == ["O001", "O002"]
    assert all(set(row) == {"sk"} for row in rows["Items"])


@pytest.mark.parametrize(("projection", "names"), [
    ("pk, n", ["pk", "n"]),
    ('"Upper"', ["Upper"]),  # moto: {} (quoted names were dropped)
    ("upper", ["upper"]),  # moto: Upper (names compared case-insensitively)
    ("m", ["m"]),
    ('"nul", flag, nope', ["nul", "flag", "nope"]),
])
def test_projection_takes_exactly_the_named_attributes(ddb, projection, names):
    rows = ddb.execute_statement(Statement=f'SELECT {projection} FROM "{TABLE}" WHERE pk = \'P1\'')["Items"]
    deserialize = TypeDeserializer().deserialize
    got = sorted(({k: deserialize(v) for k, v in row.items()} for row in rows), key=repr)
    expected = sorted(({n: item[n] for n in names if n in item} for item in ITEMS if item["pk"] == "P1"), key=repr)
    assert got == expected


def test_projection_with_a_hyphenated_name(ddb):
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "P8"}, "sk": {"S": "H"}, "a-b": {"S": "hy"}})
    try:
        rows = ddb.execute_statement(Statement=f'SELECT "a-b", sk FROM "{TABLE}" WHERE pk = \'P8\'')["Items"]
        assert rows == [{"a-b": {"S": "hy"}, "sk": {"S": "H"}}]  # moto: [{"sk": …}]
    finally:
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "P8"}, "sk": {"S": "H"}})


@pytest.mark.parametrize("projection", ["m.x", "l[1]", "COUNT(*)", "pk AS k", "n + 1"])
def test_projections_the_sandbox_cannot_evaluate_are_refused(ddb, projection):
    message = _refusal(lambda: ddb.execute_statement(Statement=f'SELECT {projection} FROM "{TABLE}"'))
    assert "projection" in message and "sandbox" in message


def test_update_and_delete_moto_would_match_differently_are_refused(ddb):
    serializer = TypeSerializer()
    ddb.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in
                                        {"pk": "P9", "sk": "X1", "v": "old"}.items()})
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "P9"}, "sk": {"S": "X2"}, "v": {"S": "old"}})
    try:
        # moto alone updated every item of the table for this one
        assert "WHERE clause of a PartiQL UPDATE" in _refusal(lambda: ddb.execute_statement(
            Statement=f"UPDATE \"{TABLE}\" SET v = 'new' WHERE pk = 'P9' AND sk BETWEEN 'X1' AND 'X2'"))
        assert "full primary key (missing sk)" in _refusal(lambda: ddb.execute_statement(
            Statement=f"UPDATE \"{TABLE}\" SET v = 'new' WHERE pk = 'P9'"))
        assert "full primary key" in _refusal(lambda: ddb.execute_statement(
            Statement=f"DELETE FROM \"{TABLE}\" WHERE pk = 'P9'"))
        # RETURNING: moto cannot parse it, refused before it runs (authorisation)
        assert "cannot parse" in _refusal(lambda: ddb.execute_statement(
            Statement=f"UPDATE \"{TABLE}\" SET v = 'new' WHERE pk = 'P9' AND sk = 'X1' RETURNING ALL NEW *"))
        values = sorted(i["v"]["S"] for i in ddb.scan(TableName=TABLE)["Items"] if i["pk"]["S"] == "P9")
        assert values == ["old", "old"]
        # the forms moto matches as DynamoDB does still work
        ddb.execute_statement(Statement=f"UPDATE \"{TABLE}\" SET v = ? WHERE pk = ? AND sk = ?",
                              Parameters=[{"S": "new"}, {"S": "P9"}, {"S": "X1"}])
        ddb.execute_statement(Statement=f"DELETE FROM \"{TABLE}\" WHERE pk = 'P9' AND sk = 'X2'")
        assert [(i["sk"]["S"], i["v"]["S"]) for i in ddb.scan(TableName=TABLE)["Items"]
                if i["pk"]["S"] == "P9"] == [("X1", "new")]
    finally:
        for sk in ("X1", "X2"):
            ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "P9"}, "sk": {"S": sk}})


def test_insert_of_an_existing_key_is_duplicate_item_and_a_transaction_writes_nothing(ddb):
    insert = "INSERT INTO \"" + TABLE + "\" VALUE {'pk': 'P7', 'sk': '%s', 'v': '%s'}"
    try:
        ddb.execute_statement(Statement=insert % ("I1", "first"))
        with pytest.raises(ClientError) as duplicate:  # moto alone: overwrote the item
            ddb.execute_statement(Statement=insert % ("I1", "second"))
        assert duplicate.value.response["Error"]["Code"] == "DuplicateItemException"
        with pytest.raises(ClientError) as cancelled:  # moto alone: wrote I2, then overwrote I1
            ddb.execute_transaction(TransactStatements=[{"Statement": insert % ("I2", "new")},
                                                        {"Statement": insert % ("I1", "third")}])
        assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == ["None", "DuplicateItem"]
        stored = {i["sk"]["S"]: i["v"]["S"] for i in ddb.scan(TableName=TABLE)["Items"] if i["pk"]["S"] == "P7"}
        assert stored == {"I1": "first"}
    finally:
        for sk in ("I1", "I2"):
            ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "P7"}, "sk": {"S": sk}})


def test_batch_statement_refusal_is_that_statements_error(ddb):
    # moto's BatchExecuteStatement finds a table only by an unquoted name (a quoted one is its
    # ResourceNotFound): the seeded `orders`
    one = "SELECT * FROM orders WHERE customer_id = 'C0001' AND order_id = 'O000001'"
    responses = ddb.batch_execute_statement(Statements=[
        {"Statement": one}, {"Statement": one + " AND NOT no_such_attribute = 'x'"}])["Responses"]
    assert responses[0]["Item"]["order_id"] == {"S": "O000001"}
    assert responses[1]["Error"]["Code"] == "ValidationError" and "sandbox" in responses[1]["Error"]["Message"]


def test_batch_select_needs_the_full_primary_key_with_equality(ddb):
    # moto checked only that the key's names appear: the BETWEEN answered one of several items
    ranged = "SELECT * FROM orders WHERE customer_id = 'C0001' AND order_id BETWEEN 'O0' AND 'O9'"
    exact = "SELECT * FROM orders WHERE customer_id = 'C0001' AND order_id = 'O000001' AND quantity > 0"
    responses = ddb.batch_execute_statement(Statements=[{"Statement": ranged}, {"Statement": exact}])["Responses"]
    assert responses[0]["Error"]["Code"] == "ValidationError" and "order_id" in responses[0]["Error"]["Message"]
    assert "Item" not in responses[0]
    assert "Error" not in responses[1]


def test_a_statement_hands_moto_only_its_own_table(ddb, monkeypatch):
    """moto serialised every table of the account for each statement (1.3-1.9 s beside the seeded
    tables); the sandbox hands it the one table the statement names (and its indexes)."""
    from xacct_nb.sandbox import patches_partiql

    seen = []
    original = patches_partiql._ORIGINAL

    def spy(statement, source_data, parameters):
        seen.append(sorted(source_data))
        return original(statement, source_data, parameters)

    monkeypatch.setattr(patches_partiql, "_ORIGINAL", spy)
    assert _select(ddb, "pk = 'P2'") == [("P2", "O003"), ("P2", "O004")]
    ddb.execute_statement(Statement="SELECT order_id FROM orders WHERE customer_id = 'C0001'")
    assert seen == [[TABLE], ["orders", "orders.by_status"]]


# --- random comparisons against a Python oracle -------------------------------------------------

# the items' own values (so bounds and equalities hit them exactly) and their neighbours
_VALUES = st.one_of(
    st.sampled_from([Decimal(x) for x in ("-3", "0", "0.5", "5", "5.00", "15", "100", "101")]),
    st.integers(-20, 20).map(Decimal),
    st.sampled_from(["", "a", "A", "Z", "alpha", "alphabet", "beta", "10", "Zed", "O001", "O002", "O01", "O010", "z"]))
_OPS = ["=", "<>", "<", "<=", ">", ">="]
_ATTRS = {"n": "N", "s": "S", "sk": "S"}


def _literal(value) -> str:
    return str(value) if isinstance(value, Decimal) else "'" + value.replace("'", "''") + "'"


def _oracle(op, left, right):
    if left is None:
        return None  # undecidable (refused) or false, checked by the caller
    same = isinstance(left, Decimal) == isinstance(right, Decimal)
    if op == "=":
        return same and left == right
    if op == "<>":
        return not (same and left == right)
    if not same:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


_WIRE = [{k: TypeSerializer().serialize(v) for k, v in item.items()} for item in ITEMS]


def _evaluated(where):
    """The keys the sandbox's evaluator keeps (the same code the patch runs on every request;
    the fixed CASES above go through the server)."""
    parsed = partiql_where.parse(tokens(where))
    return sorted((item["pk"]["S"], item["sk"]["S"]) for item in _WIRE if parsed.matches(item, []))


@settings(max_examples=300, deadline=None)
@given(attr=st.sampled_from(sorted(_ATTRS)), op=st.sampled_from(_OPS), value=_VALUES,
       low=_VALUES, high=_VALUES, form=st.sampled_from(["compare", "not", "between", "begins_with"]))
def test_random_comparisons_match_a_python_oracle(attr, op, value, low, high, form):
    present = [i for i in ITEMS if attr in i]
    if form in ("compare", "not"):
        where = f"{attr} {op} {_literal(value)}"
        if form == "not":
            where = f"NOT ({where})"
        if (op == "<>" or form == "not") and len(present) < len(ITEMS):
            where = f"{attr} IS NOT MISSING AND {where}"
        expected = [i for i in present if bool(_oracle(op, i[attr], value)) != (form == "not")]
        if form == "not" and op not in ("=", "<>") and any(
                isinstance(i[attr], Decimal) != isinstance(value, Decimal) for i in present):
            with pytest.raises(partiql_where.Unsupported):  # an ordering across types under NOT
                _evaluated(where)
            return
    elif form == "between":
        if isinstance(low, Decimal) == isinstance(high, Decimal) and low > high:
            low, high = high, low
        where = f"{attr} BETWEEN {_literal(low)} AND {_literal(high)}"
        if isinstance(low, Decimal) != isinstance(high, Decimal):
            with pytest.raises(partiql_where.Unsupported):
                _evaluated(where)
            return
        expected = [i for i in present if _oracle(">=", i[attr], low) and _oracle("<=", i[attr], high)]
    else:
        where = f"begins_with({attr}, {_literal(value)})"
        expected = [i for i in present if isinstance(value, str) and isinstance(i[attr], str)
                    and i[attr].startswith(value)]
    assert _evaluated(where) == sorted((i["pk"], i["sk"]) for i in expected), where


# --- the parser alone ---------------------------------------------------------------------------

def test_split_where_keeps_strings_and_order_by_whole():
    clause, rest = partiql_where.split_where("SELECT a FROM \"t-1\" WHERE s = 'x WHERE y' ORDER BY a;")
    assert [t.text for t in clause] == ["s", "=", "'x WHERE y'"]
    assert rest == "SELECT a FROM \"t-1\" ORDER BY a;"
    assert partiql_where.split_where("SELECT * FROM t") == (None, "SELECT * FROM t")


def test_malformed_where_is_malformed_not_unsupported():
    from xacct_nb.partiql import Malformed

    for clause in ("pk =", "pk 'x'", "= 'x'", "pk = 'x' AND", "(pk = 'x'", "pk IN 'x'"):
        with pytest.raises(Malformed):
            partiql_where.parse(tokens(clause))
