"""PartiQL authorised per statement on its table/index, and requests that name their resource by
ARN authorised against that ARN (stock moto: ExecuteStatement and every *Arn parameter on "*")."""

from __future__ import annotations

import pytest

from sandbox_policy_helpers import (
    CONSUMER_ROOT,
    MAIN,
    REGION,
    TABLE_ARN,
    assume,
    consumer_user,
    denied,
    dynamodb,
    error_code,
    role,
    trust,
)
from xacct_nb import partiql

CUSTOMERS_ARN = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/customers"


@pytest.fixture(scope="module")
def caller(sandbox):
    return consumer_user(sandbox, "restest-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


def _client(sandbox, caller, *statements):
    arn = role(sandbox.session("sandbox-main").client("iam"), trust(CONSUMER_ROOT), list(statements))
    return dynamodb(sandbox, assume(sandbox, caller, arn))


def _allow(actions, *resources):
    return {"Effect": "Allow", "Action": [f"dynamodb:{a}" for a in actions], "Resource": list(resources)}


def test_granted_partiql_select_works_and_other_verbs_and_tables_are_denied(sandbox, caller):
    ddb = _client(sandbox, caller, _allow(["PartiQLSelect"], TABLE_ARN))
    rows = ddb.execute_statement(Statement="SELECT order_id FROM \"orders\" WHERE customer_id = 'C0001'")
    assert rows["Items"] and all(set(item) == {"order_id"} for item in rows["Items"])
    denied(lambda: ddb.execute_statement(Statement="SELECT * FROM customers WHERE customer_id = 'C0001'"))
    denied(lambda: ddb.execute_statement(
        Statement="DELETE FROM \"orders\" WHERE customer_id = 'C0001' AND order_id = 'O000001'"))
    # the index is its own resource, as for Query
    denied(lambda: ddb.execute_statement(Statement="SELECT * FROM \"orders\".\"by_status\" WHERE status = 'PENDING'"))


def test_partiql_on_an_index_needs_the_index_resource(sandbox, caller):
    ddb = _client(sandbox, caller, _allow(["PartiQLSelect"], TABLE_ARN, TABLE_ARN + "/index/*"))
    # authorised; moto 5.2.5 itself cannot run PartiQL on an index and answers ResourceNotFound
    assert error_code(lambda: ddb.execute_statement(
        Statement="SELECT * FROM \"orders\".\"by_status\" WHERE \"status\" = 'PENDING'")) == "ResourceNotFoundException"


def test_batch_statements_each_need_their_grant(sandbox, caller):
    ddb = _client(sandbox, caller, _allow(["PartiQLSelect"], TABLE_ARN))
    one = {"Statement": "SELECT * FROM orders WHERE customer_id = 'C0001' AND order_id = 'O000001'"}
    assert ddb.batch_execute_statement(Statements=[one])["Responses"]
    denied(lambda: ddb.batch_execute_statement(Statements=[
        one, {"Statement": "SELECT * FROM customers WHERE customer_id = 'C0001'"}]))


def test_execute_statement_on_star_no_longer_grants_partiql(sandbox, caller):
    ddb = _client(sandbox, caller, _allow(["ExecuteStatement"], "*"))
    denied(lambda: ddb.execute_statement(Statement="SELECT * FROM orders WHERE customer_id = 'C0001'"))


def test_table_arn_as_table_name_is_authorised_against_that_arn(sandbox, caller):
    ddb = _client(sandbox, caller, _allow(["Scan", "DescribeTable"], TABLE_ARN))
    assert ddb.scan(TableName=TABLE_ARN, Limit=2)["Count"] == 2  # before: prefixed twice, denied
    assert ddb.describe_table(TableName=TABLE_ARN)["Table"]["TableName"] == "orders"
    denied(lambda: ddb.scan(TableName=CUSTOMERS_ARN, Limit=1))


def test_backup_arn_is_authorised_against_the_backup(sandbox, caller):
    main = sandbox.session("sandbox-main").client("dynamodb")
    backup = main.create_backup(TableName="customers", BackupName="restest")["BackupDetails"]["BackupArn"]
    assert backup.startswith(CUSTOMERS_ARN + "/backup/")
    granted = _client(sandbox, caller, _allow(["DescribeBackup"], CUSTOMERS_ARN + "/backup/*"))
    assert granted.describe_backup(BackupArn=backup)["BackupDescription"]["BackupDetails"]["BackupArn"] == backup
    other = _client(sandbox, caller, _allow(["DescribeBackup"], TABLE_ARN + "/backup/*"))
    denied(lambda: other.describe_backup(BackupArn=backup))
    denied(lambda: granted.delete_backup(BackupArn=backup))  # another action


def test_statement_targets_unit():
    assert partiql.target('SELECT a FROM "orders"."by_status" WHERE x=1') == ("PartiQLSelect", "orders", "by_status")
    assert partiql.target("insert into payments value {'payment_id': 'x'}") == ("PartiQLInsert", "payments", None)
    assert partiql.target("UPDATE \"t-1\" SET a=1 WHERE k='x'") == ("PartiQLUpdate", "t-1", None)
    assert partiql.target("DELETE FROM t WHERE k='x'") == ("PartiQLDelete", "t", None)
    assert partiql.table_of("EXPLAIN SELECT 1") is None
