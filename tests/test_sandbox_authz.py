"""Issue 21's attacks on the sandbox's authorisation, with two clients nobody here wrote (boto3 and
the AWS CLI) over HTTP: each is denied, or answered, as AWS answers it. The decisions come from
`sandbox/authz_table.py` (tests/test_authz_table.py checks the table against AWS's reference)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import MAIN, OUTSIDER, REGION
from sandbox_policy_helpers import (
    CONSUMER_ROOT,
    TABLE_ARN,
    assume,
    consumer_user,
    denied,
    dynamodb,
    error_code,
    role,
    trust,
)
from xacct_nb.policies import FULL_DENIED_ACTIONS, READ_ACTIONS
from xacct_nb.sandbox import authz_table

CUSTOMERS_ARN = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/customers"
READ_ORDERS = {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": [TABLE_ARN, TABLE_ARN + "/index/*"]}


@pytest.fixture(scope="module")
def caller(sandbox):
    return consumer_user(sandbox, "authz-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


def _role(sandbox, caller, *statements):
    """A session of a new main-account role holding `statements` (AssumeRole over HTTP)."""
    arn = role(sandbox.session("sandbox-main").client("iam"), trust(CONSUMER_ROOT), list(statements))
    return assume(sandbox, caller, arn)


@pytest.fixture(scope="module")
def read_orders(sandbox, caller):
    """The project's Read level on `orders` only (its actions, on the table and its indexes)."""
    return _role(sandbox, caller, READ_ORDERS)


@pytest.fixture(scope="module")
def full_customers(sandbox, caller):
    """The project's Full level on `customers` (dynamodb:* with its explicit Deny statement)."""
    resources = [CUSTOMERS_ARN, CUSTOMERS_ARN + "/*"]
    return _role(sandbox, caller, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": resources},
                 {"Effect": "Deny", "Action": sorted(FULL_DENIED_ACTIONS), "Resource": resources})


def aws_cli(sandbox, *args: str, session=None, profile: str | None = None) -> tuple[int, dict, str]:
    """Run the AWS CLI against the sandbox: (exit code, parsed JSON output or {}, stderr)."""
    executable = shutil.which("aws")
    if executable is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k in (
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    if session is not None:
        creds = session.get_credentials().get_frozen_credentials()
        env.update(AWS_ACCESS_KEY_ID=creds.access_key, AWS_SECRET_ACCESS_KEY=creds.secret_key,
                   AWS_SESSION_TOKEN=creds.token or "")
        env.pop("AWS_CONFIG_FILE", None)
        env.pop("AWS_SHARED_CREDENTIALS_FILE", None)
    command = [executable, *args, "--endpoint-url", sandbox.endpoint_url, "--region", REGION, "--output", "json"]
    if profile:
        command += ["--profile", profile]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


# --- PartiQL reads only what it names, and one table at a time ----------------------------------------

@pytest.mark.parametrize("statement", ['SELECT * FROM "orders" , "orders_archive"',
                                       'SELECT * FROM "orders" , "customers"',
                                       'SELECT * FROM "orders" JOIN "customers" ON 1 = 1'])
def test_partiql_naming_a_second_table_is_a_validation_error(sandbox, read_orders, statement):
    ddb = dynamodb(sandbox, read_orders)
    with pytest.raises(ClientError) as err:
        ddb.execute_statement(Statement=statement)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Single Table" in err.value.response["Error"]["Message"]


@pytest.mark.parametrize("table", ["orders_archive", "customers"])
def test_partiql_is_authorised_on_the_table_it_reads_not_the_text_before(sandbox, read_orders, table):
    ddb = dynamodb(sandbox, read_orders)
    denied(lambda: ddb.execute_statement(Statement=f'SELECT "x FROM orders", pk FROM "{table}"'))
    denied(lambda: ddb.execute_statement(Statement=f"SELECT * FROM /* orders */ \"{table}\" -- FROM orders"))
    rows = ddb.execute_statement(Statement="SELECT order_id FROM \"orders\" WHERE customer_id = 'C0001' "
                                           "OR customer_id = 'x FROM customers'")
    assert rows["Items"] and all(set(item) == {"order_id"} for item in rows["Items"])


def test_partiql_moto_would_read_another_table_is_refused(sandbox, read_orders):
    """Authorised on `orders` (as AWS reads it), but moto's parser finds the FROM inside the quoted
    identifier and would read `customers`: refused, never run on the ungranted table."""
    ddb = dynamodb(sandbox, read_orders)
    for statement in ('SELECT "x FROM customers " FROM "orders"', 'SELECT "x FROM customers", order_id FROM "orders"'):
        with pytest.raises(ClientError) as err:
            ddb.execute_statement(Statement=statement)
        assert err.value.response["Error"]["Code"] == "ValidationException", statement


@pytest.mark.parametrize("statement", ["UPDATE \"orders\", \"customers\" SET x = 1 WHERE order_id = 'O1'",
                                       "INSERT INTO \"orders\", \"customers\" VALUE {'order_id': 'O1'}"])
@pytest.mark.parametrize("enforcing", [True, False])
def test_partiql_writes_naming_two_tables_are_4xx_not_500(sandbox, statement, enforcing):
    main = sandbox.session("sandbox-main").client("dynamodb")  # even the owner's admin: AWS's answer, not 500
    sandbox.set_enforcement(enforcing)
    try:
        with pytest.raises(ClientError) as err:
            main.execute_statement(Statement=statement)
    finally:
        sandbox.set_enforcement(True)
    assert (err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ValidationException", 400)


def test_partiql_attacks_with_the_aws_cli(sandbox, read_orders):
    code, _, stderr = aws_cli(sandbox, "dynamodb", "execute-statement", "--statement",
                              'SELECT * FROM "orders" , "customers"', session=read_orders)
    assert code != 0 and "ValidationException" in stderr
    code, _, stderr = aws_cli(sandbox, "dynamodb", "execute-statement", "--statement",
                              'SELECT "x FROM orders", pk FROM "customers"', session=read_orders)
    assert code != 0 and "AccessDeniedException" in stderr
    code, out, stderr = aws_cli(sandbox, "dynamodb", "execute-statement", "--statement",
                                "SELECT order_id FROM \"orders\" WHERE customer_id = 'C0001'", session=read_orders)
    assert code == 0 and out["Items"], stderr


# --- Transact*: each item as its own action ---------------------------------------------------------

def _get(table: str, key: dict) -> dict:
    return {"Get": {"TableName": table, "Key": key}}


ORDER_KEY = {"customer_id": {"S": "C0001"}, "order_id": {"S": "O000001"}}


def test_read_role_transactional_read_is_allowed_item_by_item(sandbox, read_orders):
    ddb = dynamodb(sandbox, read_orders)
    assert len(ddb.transact_get_items(TransactItems=[_get("orders", ORDER_KEY)])["Responses"]) == 1
    denied(lambda: ddb.transact_get_items(TransactItems=[
        _get("orders", ORDER_KEY), _get("customers", {"customer_id": {"S": "C0001"}})]))
    denied(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": {**ORDER_KEY, "x": {"S": "y"}}}}]))
    code, out, stderr = aws_cli(sandbox, "dynamodb", "transact-get-items", "--transact-items",
                                json.dumps([_get("orders", ORDER_KEY)]), session=read_orders)
    assert code == 0 and len(out["Responses"]) == 1, stderr


# --- Full: what parameters imply -----------------------------------------------------------------------

def test_full_cannot_add_a_replica(sandbox, full_customers):
    ddb = dynamodb(sandbox, full_customers)
    error = denied(lambda: ddb.update_table(TableName="customers",
                                            ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]))
    assert "dynamodb:CreateTableReplica" in error.response["Error"]["Message"]
    code, _, stderr = aws_cli(sandbox, "dynamodb", "update-table", "--table-name", "customers", "--replica-updates",
                              json.dumps([{"Create": {"RegionName": "eu-west-1"}}]), session=full_customers)
    assert code != 0 and "AccessDeniedException" in stderr and "CreateTableReplica" in stderr


def test_full_cannot_restore_its_backup_into_a_new_table(sandbox, full_customers):
    ddb = dynamodb(sandbox, full_customers)
    backup = ddb.create_backup(TableName="customers", BackupName="authz")["BackupDetails"]["BackupArn"]
    error = denied(lambda: ddb.restore_table_from_backup(TargetTableName="customers-copy", BackupArn=backup))
    assert "table/customers-copy" in error.response["Error"]["Message"]
    main = sandbox.session("sandbox-main").client("dynamodb")
    assert error_code(lambda: main.describe_table(TableName="customers-copy")) == "ResourceNotFoundException"
    ddb.delete_backup(BackupArn=backup)


@pytest.fixture
def new_table():
    name = f"authz-{uuid.uuid4().hex[:8]}"
    arn = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/{name}"
    return name, arn


def _create(ddb, name, **kw):
    return ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], **kw)


def test_create_table_with_tags_needs_tag_resource(sandbox, caller, new_table):
    name, arn = new_table
    main = sandbox.session("sandbox-main").client("dynamodb")
    ddb = dynamodb(sandbox, _role(sandbox, caller, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": arn},
                                  {"Effect": "Deny", "Action": "dynamodb:TagResource", "Resource": arn}))
    error = denied(lambda: _create(ddb, name, Tags=[{"Key": "owner", "Value": "consumer"}]))
    assert "dynamodb:TagResource" in error.response["Error"]["Message"]
    assert error_code(lambda: main.describe_table(TableName=name)) == "ResourceNotFoundException"
    _create(ddb, name)  # without Tags: allowed
    assert main.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
    main.delete_table(TableName=name)


def test_create_table_with_a_resource_policy_needs_put_resource_policy_and_keeps_it(sandbox, caller, new_table):
    name, arn = new_table
    main = sandbox.session("sandbox-main").client("dynamodb")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": CONSUMER_ROOT}, "Action": "dynamodb:GetItem", "Resource": arn}]})
    create_only = dynamodb(sandbox, _role(sandbox, caller, {"Effect": "Allow", "Action": "dynamodb:CreateTable",
                                                            "Resource": arn}))
    error = denied(lambda: _create(create_only, name, ResourcePolicy=policy))
    assert "dynamodb:PutResourcePolicy" in error.response["Error"]["Message"]
    allowed = dynamodb(sandbox, _role(sandbox, caller, {
        "Effect": "Allow", "Action": ["dynamodb:CreateTable", "dynamodb:PutResourcePolicy"], "Resource": arn}))
    _create(allowed, name, ResourcePolicy=policy)
    assert json.loads(main.get_resource_policy(ResourceArn=arn)["Policy"]) == json.loads(policy)  # not dropped
    main.delete_table(TableName=name)


# --- another account's table, named by ARN -------------------------------------------------------------

@pytest.mark.parametrize("profile", ["sandbox-consumer", "sandbox-outsider"])
def test_another_accounts_table_by_arn_is_access_denied_not_not_found(sandbox, profile):
    ddb = sandbox.session(profile).client("dynamodb")  # the account's admin: "*" on "*" in its own account
    for call in (lambda: ddb.scan(TableName=TABLE_ARN, Limit=1),
                 lambda: ddb.get_item(TableName=TABLE_ARN, Key=ORDER_KEY),
                 lambda: ddb.describe_table(TableName=TABLE_ARN)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "no resource-based policy allows" in err.value.response["Error"]["Message"]
    code, _, stderr = aws_cli(sandbox, "dynamodb", "describe-table", "--table-name", TABLE_ARN, profile=profile)
    assert code != 0 and "AccessDeniedException" in stderr
    main = sandbox.session("sandbox-main").client("dynamodb")  # the owner names its own table by ARN: fine
    assert main.describe_table(TableName=TABLE_ARN)["Table"]["TableName"] == "orders"
    assert OUTSIDER not in TABLE_ARN


# --- fail closed: what the table does not know is denied ----------------------------------------------

def test_an_operation_the_table_does_not_know_is_denied_even_to_an_admin(sandbox, monkeypatch):
    iam = sandbox.session("sandbox-main").client("iam")
    with pytest.raises(ClientError) as err:
        iam.list_groups()
    assert err.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    monkeypatch.setitem(authz_table.IAM, "ListGroups", authz_table.Operation(
        (authz_table.Check("iam:ListGroups", "moto"),)))  # the server runs in this process
    assert "Groups" in iam.list_groups()
    monkeypatch.undo()
    denied(lambda: sandbox.session("sandbox-main").client("sqs").list_queues())
    code, _, stderr = aws_cli(sandbox, "iam", "list-groups", profile="sandbox-main")
    assert code != 0 and "AccessDenied" in stderr


def test_a_dynamodb_operation_the_table_refuses_is_denied(sandbox):
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    if "ListBulkOperations" not in ddb.meta.service_model.operation_names:
        pytest.skip("this botocore predates ListBulkOperations")
    error = denied(lambda: ddb.list_bulk_operations())
    assert "refused by the sandbox" in error.response["Error"]["Message"]


def test_implied_actions_of_other_services(sandbox):
    name = f"authz-{uuid.uuid4().hex[:6]}"
    user = consumer_user(sandbox, name, [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:DeleteRole"], "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::xacct-sandbox-exports/authz/*"}])
    iam = user.client("iam", endpoint_url=sandbox.endpoint_url)
    role_name = f"authz-{uuid.uuid4().hex[:6]}"
    document = trust(CONSUMER_ROOT)
    denied(lambda: iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=document,
                                   Tags=[{"Key": "k", "Value": "v"}]))  # iam:TagRole
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=document)
    iam.delete_role(RoleName=role_name)
    s3 = user.client("s3", endpoint_url=sandbox.endpoint_url)
    s3.put_object(Bucket="xacct-sandbox-exports", Key="authz/a", Body=b"x")
    denied(lambda: s3.put_object(Bucket="xacct-sandbox-exports", Key="authz/b", Body=b"x",
                                 ACL="bucket-owner-full-control"))  # s3:PutObjectAcl
    denied(lambda: s3.put_object(Bucket="xacct-sandbox-exports", Key="other/a", Body=b"x"))


# --- DynamoDB Streams: on the stream ARN (moto: "*") ----------------------------------------------------

def test_streams_are_authorised_on_the_stream(sandbox, caller, new_table):
    name, arn = new_table
    main = sandbox.session("sandbox-main").client("dynamodb")
    _create(main, name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    main.put_item(TableName=name, Item={"pk": {"S": "a"}})
    stream = main.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    actions = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    try:
        granted = _role(sandbox, caller, {"Effect": "Allow", "Action": actions, "Resource": f"{arn}/stream/*"})
        streams = granted.client("dynamodbstreams", endpoint_url=sandbox.endpoint_url)
        shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        assert streams.get_records(ShardIterator=iterator)["Records"]
        other = _role(sandbox, caller, {"Effect": "Allow", "Action": actions, "Resource": f"{TABLE_ARN}/stream/*"})
        other_streams = other.client("dynamodbstreams", endpoint_url=sandbox.endpoint_url)
        denied(lambda: other_streams.describe_stream(StreamArn=stream))
        denied(lambda: other_streams.get_records(ShardIterator=iterator))  # the iterator's stream decides
        outsider = sandbox.session("sandbox-outsider").client("dynamodbstreams")
        denied(lambda: outsider.describe_stream(StreamArn=stream))  # another account, no resource policy
    finally:
        main.delete_table(TableName=name)


def test_partiql_writes_on_a_hyphenated_table_run_as_authorised(sandbox):
    """moto names a DELETE's table unquoted (`T-1`), a SELECT's as written (`"T-1"`): both
    are the table DynamoDB reads, so neither is refused as "moto would read another table"."""
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    name = "authz-hyphen-table"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    try:
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        assert ddb.execute_statement(Statement=f'SELECT n FROM "{name}" WHERE pk = \'a\'')["Items"] == [
            {"n": {"N": "1"}}]
        ddb.execute_statement(Statement=f'DELETE FROM "{name}" WHERE pk = \'a\'')
        assert ddb.scan(TableName=name)["Items"] == []
    finally:
        ddb.delete_table(TableName=name)
