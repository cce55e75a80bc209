"""Issue 24: the sandbox enforces DynamoDB resource-based policies, with boto3 and the AWS CLI over HTTP.

Cross-account, a request naming the main account's table (or stream) by ARN is served by the main
account and needs BOTH the table's (stream's) resource policy and the caller's identity policy; an
explicit Deny in either wins; operations AWS does not support cross-account (PartiQL, exports,
resource-policy APIs…) are denied; PutResourcePolicy behaves as AWS's (revisions, 20 KB, Block
Public Access, self-lockout)."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import CONSUMER, MAIN, OUTSIDER, REGION, doc
from sandbox_policy_helpers import consumer_user, denied, dynamodb, error_code
from test_sandbox_authz import aws_cli
from xacct_nb.sandbox import ORGANIZATIONS
from xacct_nb.sandbox.resource_policy import MAX_POLICY_BYTES

KEY = {"pk": {"S": "a"}}


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def grant(principal, actions, resources, effect="Allow", condition=None) -> dict:
    statement = {"Effect": effect, "Principal": principal, "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


@pytest.fixture
def table(sandbox):
    """A fresh main-account table (hash key pk, GSI by_v, a stream) with one item; dropped after."""
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    main = sandbox.session("sandbox-main").client("dynamodb")
    main.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "v", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_v", "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    main.put_item(TableName=name, Item={**KEY, "v": {"S": "x"}})
    arn = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/{name}"
    yield arn
    main.delete_table(TableName=name)


def consumer(sandbox, actions, resources, extra=()) -> tuple[object, str]:
    """A new consumer-account user allowed `actions` on `resources` by its identity policy."""
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    session = consumer_user(sandbox, name, [{"Effect": "Allow", "Action": actions, "Resource": resources},
                                            *extra])
    return dynamodb(sandbox, session), f"arn:aws:iam::{CONSUMER}:user/{name}"


def put(sandbox, arn: str, document: str, **kw) -> str:
    return sandbox.session("sandbox-main").client("dynamodb").put_resource_policy(
        ResourceArn=arn, Policy=document, **kw)["RevisionId"]


def reason(fn) -> str:
    return denied(fn).response["Error"]["Message"]


# --- both sides must allow ---------------------------------------------------------------------------

def test_without_a_resource_policy_another_accounts_table_is_denied(sandbox, table):
    ddb, _ = consumer(sandbox, "dynamodb:*", [table, table + "/*"])
    assert "because no resource-based policy allows the dynamodb:GetItem action" in reason(
        lambda: ddb.get_item(TableName=table, Key=KEY))
    code, _, stderr = aws_cli(sandbox, "dynamodb", "describe-table", "--table-name", table,
                              profile="sandbox-consumer")
    assert code != 0 and "no resource-based policy allows" in stderr


def test_a_policy_admitting_the_consumer_and_its_identity_policy_allow_the_read(sandbox, table):
    actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable",
               "dynamodb:BatchGetItem", "dynamodb:PutItem"]
    ddb, user = consumer(sandbox, actions, table)
    put(sandbox, table, policy(grant({"AWS": user}, actions, table)))
    assert ddb.get_item(TableName=table, Key=KEY)["Item"]["v"] == {"S": "x"}  # routed to main's table
    assert ddb.scan(TableName=table)["Count"] == 1
    assert ddb.describe_table(TableName=table)["Table"]["TableArn"] == table
    assert ddb.batch_get_item(RequestItems={table: {"Keys": [KEY]}})["Responses"][table][0]["v"] == {"S": "x"}
    ddb.put_item(TableName=table, Item={"pk": {"S": "from-consumer"}})
    main = sandbox.session("sandbox-main").client("dynamodb")
    assert "Item" in main.get_item(TableName=table.rsplit("/", 1)[1], Key={"pk": {"S": "from-consumer"}})
    assert error_code(lambda: ddb.describe_table(TableName=table.rsplit("/", 1)[1])) in (
        "ResourceNotFoundException", "AccessDeniedException")  # by name: the consumer's own account
    denied(lambda: ddb.delete_item(TableName=table, Key=KEY))  # in neither policy
    denied(lambda: ddb.tag_resource(ResourceArn=table, Tags=[{"Key": "k", "Value": "v"}]))


def test_tagging_works_across_accounts_through_the_policy(sandbox, table):
    actions = ["dynamodb:TagResource", "dynamodb:ListTagsOfResource"]
    ddb, user = consumer(sandbox, actions, table)
    put(sandbox, table, policy(grant({"AWS": user}, actions, table)))
    ddb.tag_resource(ResourceArn=table, Tags=[{"Key": "owner", "Value": "consumer"}])
    main = sandbox.session("sandbox-main").client("dynamodb")
    assert main.list_tags_of_resource(ResourceArn=table)["Tags"] == [{"Key": "owner", "Value": "consumer"}]
    assert ddb.list_tags_of_resource(ResourceArn=table)["Tags"] == [{"Key": "owner", "Value": "consumer"}]


def test_the_aws_cli_reads_by_arn_with_the_consumers_own_profile(sandbox, table):
    admin = f"arn:aws:iam::{CONSUMER}:user/admin"
    put(sandbox, table, policy(grant({"AWS": admin}, ["dynamodb:GetItem", "dynamodb:Scan"], table)))
    code, out, stderr = aws_cli(sandbox, "dynamodb", "scan", "--table-name", table, profile="sandbox-consumer")
    assert code == 0, stderr
    assert out["Count"] == 1
    code, _, stderr = aws_cli(sandbox, "dynamodb", "scan", "--table-name", table, profile="sandbox-outsider")
    assert code != 0 and "AccessDeniedException" in stderr


def test_missing_identity_policy_denies_even_when_the_resource_policy_allows(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:DescribeTable", table)  # nothing about GetItem
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:GetItem", table)))
    assert "because no identity-based policy allows the dynamodb:GetItem action" in reason(
        lambda: ddb.get_item(TableName=table, Key=KEY))


def test_an_explicit_deny_in_either_policy_wins(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:*", table,
                         extra=[{"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": table}])
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:*", table),
                               grant({"AWS": f"arn:aws:iam::{CONSUMER}:root"}, "dynamodb:GetItem", table, "Deny")))
    assert "with an explicit deny in a resource-based policy" in reason(lambda: ddb.get_item(TableName=table, Key=KEY))
    assert "with an explicit deny in an identity-based policy" in reason(lambda: ddb.scan(TableName=table))
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :k",
                     ExpressionAttributeValues={":k": {"S": "a"}})["Count"] == 1


def test_the_outsider_and_an_unlisted_consumer_principal_are_denied(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:GetItem", table)
    other, _ = consumer(sandbox, "dynamodb:GetItem", table)
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:GetItem", table)))
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)
    assert "no resource-based policy allows" in reason(lambda: other.get_item(TableName=table, Key=KEY))
    outsider = sandbox.session("sandbox-outsider").client("dynamodb")  # admin of its own account
    assert "no resource-based policy allows" in reason(lambda: outsider.get_item(TableName=table, Key=KEY))


def test_account_root_and_organization_principals(sandbox, table):
    ddb, _ = consumer(sandbox, "dynamodb:GetItem", table)
    outsider = sandbox.session("sandbox-outsider").client("dynamodb")
    put(sandbox, table, policy(grant({"AWS": CONSUMER}, "dynamodb:GetItem", table)))  # bare account id
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)
    denied(lambda: outsider.get_item(TableName=table, Key=KEY))
    org = ORGANIZATIONS["consumer"]
    assert ORGANIZATIONS["outsider"] != org
    put(sandbox, table, policy(grant("*", "dynamodb:GetItem", table,
                                     condition={"StringEquals": {"aws:PrincipalOrgID": org}})))
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)
    denied(lambda: outsider.get_item(TableName=table, Key=KEY))  # another organization
    put(sandbox, table, policy(grant("*", "dynamodb:GetItem", table,
                                     condition={"StringEquals": {"aws:PrincipalAccount": OUTSIDER}})))
    denied(lambda: ddb.get_item(TableName=table, Key=KEY))
    assert "Item" in outsider.get_item(TableName=table, Key=KEY)


def test_an_unknown_condition_operator_never_allows(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:GetItem", table)
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:GetItem", table,
                                     condition={"DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}})))
    denied(lambda: ddb.get_item(TableName=table, Key=KEY))


# --- indexes and streams -----------------------------------------------------------------------------

def test_index_permissions_are_written_in_the_base_tables_policy(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:Query", [table, table + "/index/*"])
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:Query", table + "/index/*")))
    found = ddb.query(TableName=table, IndexName="by_v", KeyConditionExpression="v = :v",
                      ExpressionAttributeValues={":v": {"S": "x"}})
    assert found["Count"] == 1
    denied(lambda: ddb.query(TableName=table, KeyConditionExpression="pk = :k",
                             ExpressionAttributeValues={":k": {"S": "a"}}))  # the base table is not listed


def test_a_stream_is_read_through_its_own_policy(sandbox, table):
    main = sandbox.session("sandbox-main").client("dynamodb")
    stream = main.describe_table(TableName=table.rsplit("/", 1)[1])["Table"]["LatestStreamArn"]
    actions = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    session = consumer_user(sandbox, name, [{"Effect": "Allow", "Action": actions, "Resource": table + "/stream/*"}])
    user = f"arn:aws:iam::{CONSUMER}:user/{name}"
    streams = session.client("dynamodbstreams", endpoint_url=sandbox.endpoint_url)
    put(sandbox, table, policy(grant({"AWS": user}, actions, [table, table + "/stream/*"])))
    denied(lambda: streams.describe_stream(StreamArn=stream))  # the table's policy does not cover its stream
    put(sandbox, stream, policy(grant({"AWS": user}, actions, stream)))
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert streams.get_records(ShardIterator=iterator)["Records"]
    outsider = sandbox.session("sandbox-outsider").client("dynamodbstreams")
    denied(lambda: outsider.describe_stream(StreamArn=stream))
    assert json.loads(main.get_resource_policy(ResourceArn=stream)["Policy"])["Statement"][0]["Resource"] == stream


# --- what AWS does not allow across accounts ---------------------------------------------------------

def test_partiql_export_and_policy_apis_are_refused_across_accounts(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:*", [table, table + "/*"])
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:*", [table, table + "/*"])))
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)
    message = reason(lambda: ddb.execute_statement(Statement=f'SELECT * FROM "{table}"'))
    assert "ExecuteStatement is not available across accounts" in message
    denied(lambda: ddb.export_table_to_point_in_time(TableArn=table, S3Bucket="xacct-sandbox-exports"))
    denied(lambda: ddb.get_resource_policy(ResourceArn=table))
    denied(lambda: ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "ttl"}))
    code, _, stderr = aws_cli(sandbox, "dynamodb", "execute-statement", "--statement",
                              f'SELECT * FROM "{table}"', profile="sandbox-consumer")
    assert code != 0 and "AccessDeniedException" in stderr


def test_a_table_arn_in_an_unknown_region_is_denied_not_a_server_error(sandbox, table):
    ddb, user = consumer(sandbox, "dynamodb:GetItem", "*")
    elsewhere = table.replace(f":{REGION}:", ":xx-nowhere-1:")
    put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:GetItem", ["*"])))
    assert "no resource-based policy allows" in reason(lambda: ddb.get_item(TableName=elsewhere, Key=KEY))


def test_a_malformed_table_arn_is_a_validation_error(sandbox):
    ddb = sandbox.session("sandbox-consumer").client("dynamodb")
    assert error_code(lambda: ddb.get_item(TableName="arn:aws:dynamodb:x", Key=KEY)) == "ValidationException"


def test_one_request_naming_tables_of_two_accounts_is_refused(sandbox, table):
    consumer_admin = sandbox.session("sandbox-consumer").client("dynamodb")
    put(sandbox, table, policy(grant({"AWS": CONSUMER}, "dynamodb:BatchGetItem", table)))
    assert error_code(lambda: consumer_admin.batch_get_item(RequestItems={
        table: {"Keys": [KEY]}, "own-table": {"Keys": [KEY]}})) == "ValidationException"


def test_a_failed_transaction_by_arn_leaves_nothing_written(sandbox, table):
    ddb, user = consumer(sandbox, ["dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"], table)
    put(sandbox, table, policy(grant({"AWS": user}, ["dynamodb:PutItem", "dynamodb:ConditionCheckItem",
                                                     "dynamodb:GetItem"], table)))
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}}}},
            {"ConditionCheck": {"TableName": table, "Key": KEY, "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "tx"}})


def test_same_account_a_policy_naming_the_caller_suffices_one_naming_the_account_does_not(sandbox, table):
    iam = sandbox.session("sandbox-main").client("iam")
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)  # no identity policy at all
    key = iam.create_access_key(UserName=name)["AccessKey"]
    import boto3

    ddb = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        region_name=REGION).client("dynamodb", endpoint_url=sandbox.endpoint_url)
    put(sandbox, table, policy(grant({"AWS": f"arn:aws:iam::{MAIN}:root"}, "dynamodb:GetItem", table)))
    denied(lambda: ddb.get_item(TableName=table, Key=KEY))
    put(sandbox, table, policy(grant({"AWS": f"arn:aws:iam::{MAIN}:user/{name}"}, "dynamodb:GetItem", table)))
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)
    assert "Item" in ddb.get_item(TableName=table.rsplit("/", 1)[1], Key=KEY)


# --- PutResourcePolicy as AWS serves it --------------------------------------------------------------

def test_block_public_access_refuses_public_grants(sandbox, table):
    for statement in (grant("*", "dynamodb:GetItem", table), grant({"AWS": "*"}, "dynamodb:GetItem", table),
                      grant("*", "dynamodb:GetItem", table, condition={"StringLike": {"aws:PrincipalAccount": "2*"}}),
                      grant("*", "dynamodb:GetItem", table,
                            condition={"StringNotEquals": {"aws:PrincipalAccount": OUTSIDER}})):
        code = error_code(lambda: put(sandbox, table, policy(statement)))  # noqa: B023
        assert code == "ValidationException", statement
    code, _, stderr = aws_cli(sandbox, "dynamodb", "put-resource-policy", "--resource-arn", table, "--policy",
                              policy(grant("*", "dynamodb:GetItem", table)), profile="sandbox-main")
    assert code != 0 and "Block Public Access" in stderr
    put(sandbox, table, policy(grant("*", "dynamodb:GetItem", table,
                                     condition={"StringEquals": {"aws:PrincipalOrgID": ORGANIZATIONS["main"]}})))


def test_expected_revision_ids(sandbox, table):
    main = sandbox.session("sandbox-main").client("dynamodb")
    first = policy(grant({"AWS": CONSUMER}, "dynamodb:GetItem", table))
    second = policy(grant({"AWS": CONSUMER}, ["dynamodb:GetItem", "dynamodb:Query"], table))
    assert error_code(lambda: put(sandbox, table, first, ExpectedRevisionId="123")) == "PolicyNotFoundException"
    revision = put(sandbox, table, first, ExpectedRevisionId="NO_POLICY")
    assert put(sandbox, table, first) == revision  # idempotent
    assert error_code(lambda: put(sandbox, table, second, ExpectedRevisionId="NO_POLICY")) == \
        "PolicyNotFoundException"
    assert error_code(lambda: put(sandbox, table, second, ExpectedRevisionId=revision + "0")) == \
        "PolicyNotFoundException"
    newer = put(sandbox, table, second, ExpectedRevisionId=revision)
    assert newer != revision and int(newer) > int(revision)
    assert main.get_resource_policy(ResourceArn=table)["RevisionId"] == newer
    assert error_code(lambda: main.delete_resource_policy(ResourceArn=table, ExpectedRevisionId=revision)) == \
        "PolicyNotFoundException"
    assert main.delete_resource_policy(ResourceArn=table, ExpectedRevisionId=newer)["RevisionId"] == newer
    assert "RevisionId" not in main.delete_resource_policy(ResourceArn=table)  # none left: idempotent
    assert error_code(lambda: main.get_resource_policy(ResourceArn=table)) == "PolicyNotFoundException"


def test_the_20_kb_limit_counts_whitespace(sandbox, table):
    body = policy(grant({"AWS": CONSUMER}, "dynamodb:GetItem", table))
    exact = body[:-1] + " " * (MAX_POLICY_BYTES - len(body)) + body[-1]
    assert len(exact.encode()) == MAX_POLICY_BYTES == 20480
    put(sandbox, table, exact)
    over = body[:-1] + " " * (MAX_POLICY_BYTES + 1 - len(body)) + body[-1]
    main = sandbox.session("sandbox-main").client("dynamodb")
    with pytest.raises(ClientError) as err:
        main.put_resource_policy(ResourceArn=table, Policy=over)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "20 KB" in err.value.response["Error"]["Message"]


def test_locking_yourself_out_needs_confirmation(sandbox, table):
    admin = f"arn:aws:iam::{MAIN}:user/admin"
    lockout = policy(grant({"AWS": admin}, "dynamodb:PutResourcePolicy", table, "Deny"),
                     grant({"AWS": CONSUMER}, "dynamodb:GetItem", table))
    with pytest.raises(ClientError) as err:
        put(sandbox, table, lockout)
    assert "ConfirmRemoveSelfResourceAccess" in err.value.response["Error"]["Message"]
    put(sandbox, table, lockout, ConfirmRemoveSelfResourceAccess=True)
    assert "explicit deny in a resource-based policy" in reason(
        lambda: put(sandbox, table, policy(grant({"AWS": CONSUMER}, "dynamodb:Scan", table))))
    sandbox.session("sandbox-main").client("dynamodb").delete_resource_policy(ResourceArn=table)


def test_removing_the_statement_that_was_your_only_grant_needs_confirmation(sandbox, table):
    import boto3

    iam = sandbox.session("sandbox-main").client("iam")
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)  # no identity policy: the table's policy is its only grant
    key = iam.create_access_key(UserName=name)["AccessKey"]
    ddb = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        region_name=REGION).client("dynamodb", endpoint_url=sandbox.endpoint_url)
    me = {"AWS": f"arn:aws:iam::{MAIN}:user/{name}"}
    put(sandbox, table, policy(grant(me, ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"], table)))
    keeps = policy(grant(me, ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy", "dynamodb:GetItem"],
                         table))
    ddb.put_resource_policy(ResourceArn=table, Policy=keeps)  # still manages it: no confirmation needed
    drops = policy(grant(me, "dynamodb:GetItem", table))
    with pytest.raises(ClientError) as err:
        ddb.put_resource_policy(ResourceArn=table, Policy=drops)
    assert "ConfirmRemoveSelfResourceAccess" in err.value.response["Error"]["Message"]
    ddb.put_resource_policy(ResourceArn=table, Policy=drops, ConfirmRemoveSelfResourceAccess=True)
    denied(lambda: ddb.put_resource_policy(ResourceArn=table, Policy=keeps))
    assert "Item" in ddb.get_item(TableName=table, Key=KEY)


def test_create_table_refuses_a_public_resource_policy_before_creating(sandbox):
    main = sandbox.session("sandbox-main").client("dynamodb")
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    arn = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/{name}"
    assert error_code(lambda: main.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", ResourcePolicy=policy(grant("*", "dynamodb:GetItem", arn)),
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])) == "ValidationException"
    assert error_code(lambda: main.describe_table(TableName=name)) == "ResourceNotFoundException"


# --- a KMS-encrypted table: the key policy must admit the consumer too --------------------------------

def test_ledger_cross_account_needs_the_key_policy_too(sandbox):
    main = sandbox.session("sandbox-main")
    ddb_main, kms = main.client("dynamodb"), main.client("kms")
    ledger = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/ledger"
    key_arn = ddb_main.describe_table(TableName="ledger")["Table"]["SSEDescription"]["KMSMasterKeyArn"]
    original = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    ddb, user = consumer(sandbox, "dynamodb:Scan", ledger,
                         extra=[{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}])
    try:
        put(sandbox, ledger, policy(grant({"AWS": user}, "dynamodb:Scan", ledger)))
        with pytest.raises(ClientError) as err:
            ddb.scan(TableName=ledger, Limit=1)
        assert "KMS key access denied" in err.value.response["Error"]["Message"]
        statements = json.loads(original)["Statement"]
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=doc(*statements, {
            "Effect": "Allow", "Principal": {"AWS": user}, "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}}))
        assert ddb.scan(TableName=ledger, Limit=1)["Items"]
    finally:
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=original)
        ddb_main.delete_resource_policy(ResourceArn=ledger)


# --- eventual consistency (the sandbox's iam_delay) ----------------------------------------------------

def test_with_an_iam_delay_a_policy_change_takes_effect_only_after_it(sandbox, table):
    import time

    ddb, user = consumer(sandbox, "dynamodb:GetItem", table)
    main = sandbox.session("sandbox-main").client("dynamodb")
    delay = 1.5
    sandbox.set_iam_delay(delay)
    try:
        revision = put(sandbox, table, policy(grant({"AWS": user}, "dynamodb:GetItem", table)))
        assert main.get_resource_policy(ResourceArn=table)["RevisionId"] == revision  # Get answers at once
        denied(lambda: ddb.get_item(TableName=table, Key=KEY))  # authorisation: not yet
        time.sleep(delay)
        assert "Item" in ddb.get_item(TableName=table, Key=KEY)
        main.delete_resource_policy(ResourceArn=table)
        assert "Item" in ddb.get_item(TableName=table, Key=KEY)  # the deletion is not in effect yet
        time.sleep(delay)
        denied(lambda: ddb.get_item(TableName=table, Key=KEY))
    finally:
        sandbox.set_iam_delay(0)
