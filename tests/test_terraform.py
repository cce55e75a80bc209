"""Terraform JSON export (pure, plus one optional `terraform validate` with a local provider)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import CONSUMER, MAIN
from xacct_nb import policies
from xacct_nb.errors import InputError
from xacct_nb.spec import AccessSpec, parse_spec
from xacct_nb.terraform import export_terraform, table_key, write_terraform

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # Terraform identifier syntax
REF = re.compile(r"\$\{(aws_[a-z_]+)\.([A-Za-z0-9_-]+)\.(name|arn)\}")
# A provider plugin laid out for `terraform init -plugin-dir` (this machine has one; CI machines
# of the same kind too). Without it the validate test is skipped: init would need the registry.
PLUGIN_DIR = Path(os.environ.get("XACCT_TF_PLUGIN_DIR", "/opt/tf-plugins"))


def make_spec(**changes: Any) -> AccessSpec:
    data = {
        "env": "dev", "region": "eu-west-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
        "main_profile": "main-admin", "consumer_profile": "consumer-admin",
        "consumer_principal": f"arn:aws:iam::{CONSUMER}:role/data/analyst",
        "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                              {"table_name": "my-table.v2", "access_type": "Full"},
                              {"table_name": "my-table_v2", "access_type": "ReadWriteUpdate"}],
        "external_id": "ext-42", "trusted_principal_arns": [f"arn:aws:iam::{CONSUMER}:role/data/*"],
        "tags": {"team": "data"},
    }
    return parse_spec({**data, **changes})


def resources(doc: dict[str, Any], rtype: str) -> dict[str, Any]:
    return doc["resource"].get(rtype, {})


def test_export_is_plain_json() -> None:
    doc = export_terraform(make_spec())
    assert json.loads(json.dumps(doc)) == doc


def test_role_matches_spec_and_carries_the_trust_policy() -> None:
    spec = make_spec(max_session_duration=7200, permissions_boundary_arn="arn:aws:iam::aws:policy/PowerUserAccess")
    role = resources(export_terraform(spec, "main"), "aws_iam_role")["ddb_access_role"]
    assert role["name"] == f"dev-ddb_cross_acc_access_role-{CONSUMER}"
    assert role["description"] == f"Role that provides access to DynamoDB tables for account {CONSUMER} on dev env"
    assert role["assume_role_policy"] == policies.to_json(policies.trust_policy(spec))
    assert json.loads(role["assume_role_policy"]) == policies.trust_policy(spec)
    assert role["max_session_duration"] == 7200
    assert role["permissions_boundary"] == "arn:aws:iam::aws:policy/PowerUserAccess"
    assert role["tags"] == spec.resource_tags
    plain = resources(export_terraform(make_spec(), "main"), "aws_iam_role")["ddb_access_role"]
    assert "permissions_boundary" not in plain


def test_one_policy_and_one_attachment_per_table_with_the_policies_py_documents() -> None:
    spec = make_spec()
    doc = export_terraform(spec, "main")
    table_policies = resources(doc, "aws_iam_policy")
    attachments = resources(doc, "aws_iam_role_policy_attachment")
    assert len(table_policies) == len(attachments) == len(spec.table_access_list)
    for table in spec.table_access_list:
        block = table_policies[f"ddb_table_policy_{table_key(table.table_name)}"]
        assert block["name"] == f"dev-DynamoDBTableAccess-{CONSUMER}-{table.table_name}"
        assert block["policy"] == policies.to_json(policies.table_policy(spec, table))
        attachment = attachments[f"ddb_access_policy_attachment_{table_key(table.table_name)}"]
        assert attachment["role"] == "${aws_iam_role.ddb_access_role.name}"
        assert attachment["policy_arn"] == f"${{aws_iam_policy.ddb_table_policy_{table_key(table.table_name)}.arn}}"


def test_every_reference_points_to_a_declared_resource() -> None:
    doc = export_terraform(make_spec())
    text = json.dumps(doc)
    refs = REF.findall(text)
    assert refs
    for rtype, name, _ in refs:
        assert name in resources(doc, rtype), f"{rtype}.{name} is referenced but not declared"


NAMES = ["orders", "my-table.v2", "my-table_v2", "9lives", "a.b", "a_b", "a-b", "A.B"]


def test_table_keys_are_identifiers_distinct_and_stable() -> None:
    keys = [table_key(name) for name in NAMES]
    assert all(IDENT.fullmatch(f"ddb_table_policy_{key}") for key in keys)
    assert len(set(keys)) == len(NAMES)  # "a.b" and "a_b" must not collide
    assert table_key("orders") == "orders" and table_key("a.b") == table_key("a.b")


def test_consumer_side_for_a_role_principal() -> None:
    spec = make_spec()
    doc = export_terraform(spec, "consumer")
    assert set(doc["resource"]) == {"aws_iam_policy", "aws_iam_role_policy_attachment"}
    policy = resources(doc, "aws_iam_policy")["ddb_cross_acc_assume_policy"]
    assert policy["name"] == f"dev-AssumeDdbCrossAccRole-{MAIN}"
    assert policy["policy"] == policies.to_json(policies.consumer_policy(spec))
    attachment = resources(doc, "aws_iam_role_policy_attachment")["ddb_cross_acc_assume_attachment"]
    assert attachment["role"] == "analyst"  # the name without its path, as the provider wants
    assert attachment["policy_arn"] == "${aws_iam_policy.ddb_cross_acc_assume_policy.arn}"


def test_consumer_side_for_a_user_principal() -> None:
    spec = make_spec(consumer_principal=f"arn:aws:iam::{CONSUMER}:user/analyst", trusted_principal_arns=None)
    doc = export_terraform(spec, "consumer")
    attachment = resources(doc, "aws_iam_user_policy_attachment")["ddb_cross_acc_assume_attachment"]
    assert attachment["user"] == "analyst"
    assert "aws_iam_role_policy_attachment" not in doc["resource"]


def test_sides_and_providers() -> None:
    spec = make_spec()
    main, consumer, both = (export_terraform(spec, side) for side in ("main", "consumer", "both"))
    assert "aws_iam_role" in main["resource"] and "aws_iam_role" not in consumer["resource"]
    assert "ddb_cross_acc_assume_policy" not in resources(main, "aws_iam_policy")
    assert set(resources(both, "aws_iam_policy")) == \
        set(resources(main, "aws_iam_policy")) | set(resources(consumer, "aws_iam_policy"))
    providers = {p["alias"]: p for p in both["provider"]["aws"]}
    assert providers["main"]["allowed_account_ids"] == [MAIN] and providers["main"]["profile"] == "main-admin"
    assert providers["consumer"]["allowed_account_ids"] == [CONSUMER]
    for blocks in both["resource"].values():
        for block in blocks.values():
            assert block["provider"] in {"aws.main", "aws.consumer"}
    assert all(b["provider"] == "aws.consumer" for b in resources(consumer, "aws_iam_policy").values())
    assert [p["alias"] for p in main["provider"]["aws"]] == ["main"]


def test_template_syntax_in_literals_is_escaped() -> None:
    doc = export_terraform(make_spec(main_profile="odd${profile}%{x}"), "main")
    assert doc["provider"]["aws"][0]["profile"] == "odd$${profile}%%{x}"


def test_bad_side_is_refused() -> None:
    with pytest.raises(InputError):
        export_terraform(make_spec(), "everything")


def test_write_terraform(tmp_path: Path) -> None:
    spec = make_spec()
    written = write_terraform(spec, tmp_path)
    assert written == tmp_path / "xacct-nb-dev.tf.json"
    assert json.loads(written.read_text()) == export_terraform(spec, "both")
    nested = write_terraform(spec, tmp_path / "sub" / "main.tf.json", side="main")
    assert json.loads(nested.read_text()) == export_terraform(spec, "main")
    with pytest.raises(InputError):
        write_terraform(spec, tmp_path / "main.json")


@pytest.mark.skipif(shutil.which("terraform") is None or not PLUGIN_DIR.is_dir(),
                    reason="needs the terraform binary and a local AWS provider plugin dir")
def test_terraform_validate_accepts_the_export(tmp_path: Path) -> None:
    write_terraform(make_spec(permissions_boundary_arn="arn:aws:iam::aws:policy/PowerUserAccess"), tmp_path)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}

    def terraform(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["terraform", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    init = terraform("init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}")
    assert init.returncode == 0, init.stderr
    result = terraform("validate", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
