"""Helpers for the sandbox-patch tests: policy documents written inline, roles in the main account,
and sessions obtained through ordinary STS calls over HTTP (nothing stubbed)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

import helpers
from helpers import CONSUMER, MAIN, REGION
from xacct_nb.errors import is_access_denied

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/orders"
CONSUMER_ROOT = f"arn:aws:iam::{CONSUMER}:root"


def doc(statements) -> str:
    """helpers.doc for a list of statements."""
    return helpers.doc(*statements)


def trust(principal, condition=None, actions=("sts:AssumeRole",)) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    if condition:
        statement["Condition"] = condition
    return doc([statement])


def user_session(iam, name: str) -> boto3.Session:
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)


def consumer_user(sandbox, name: str, statements) -> boto3.Session:
    """A new consumer-account user whose only identity policy holds `statements`."""
    iam = sandbox.session("sandbox-consumer").client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=doc(statements))
    return user_session(iam, name)


def role(main_iam, trust_document: str, statements=None) -> str:
    """A new patchtest-* role in the main account, with an inline policy when statements are given."""
    name = f"patchtest-{uuid.uuid4().hex[:8]}"
    arn = main_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_document)["Role"]["Arn"]
    if statements:
        main_iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc(statements))
    return arn


def assume(sandbox, session, role_arn: str, **kw) -> boto3.Session:
    sts = session.client("sts", endpoint_url=sandbox.endpoint_url)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="patchtest", **kw)["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def dynamodb(sandbox, session):
    return session.client("dynamodb", endpoint_url=sandbox.endpoint_url)


def denied(fn) -> ClientError:
    with pytest.raises(ClientError) as err:
        fn()
    assert is_access_denied(err.value), err.value.response["Error"]
    return err.value


def error_code(fn) -> str:
    with pytest.raises(ClientError) as err:
        fn()
    return err.value.response["Error"]["Code"]
