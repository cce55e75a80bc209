"""Issue 19's hostile params files, end to end through the CLI against the sandbox: each is refused
with one line before the first AWS call (so zero IAM writes); and the plan's note on what each
trusted_principal_arns pattern admits in the consumer account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.client
import pytest
import yaml

from test_provisioning import BASE, new_spec
from xacct_nb.cli import main
from xacct_nb.provisioning import plan
from xacct_nb.provisioning.trust_matches import trust_match_changes
from xacct_nb.sandbox.seed import EXPORT_BUCKET

ROOT = Path(__file__).resolve().parents[1]
LOCAL_YAML = (ROOT / "params" / "local.yaml").read_text()
CONSUMER = BASE["consumer_account_id"]


def _with(**changes: Any) -> str:
    return yaml.safe_dump({**BASE, "env": "hostile", **changes}, sort_keys=False)


# The three hostile files of the issue (and a few siblings): the text, what the one line names.
HOSTILE = {
    "duplicate-access-type": (
        LOCAL_YAML.replace("env: local", "env: hostile").replace(
            "    access_type: Read\n", "    access_type: Read\n    access_type: Full\n"),
        "table_access_list[0].access_type: is given twice"),
    "duplicate-principal": (
        LOCAL_YAML.replace("env: local", "env: hostile")
        + f"consumer_principal: arn:aws:iam::{CONSUMER}:role/admin\n",
        "consumer_principal: is given twice"),
    "duplicate-env": ("env: other\n" + LOCAL_YAML, "env: is given twice"),
    "wildcard-prefix": (_with(export={"bucket": EXPORT_BUCKET, "prefix": "*"}),
                        "export.prefix: '*' contains *"),
    "dotdot-prefix": (_with(export={"bucket": EXPORT_BUCKET, "prefix": "../.."}),
                      "export.prefix: '../..' contains '..'"),
    "wildcard-trust": (_with(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/*",
                                                     f"arn:aws:iam::{CONSUMER}:role/*"]),
                       f"trusted_principal_arns[0]: 'arn:aws:iam::{CONSUMER}:user/*' admits every user"),
    "root-trust": (_with(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:root"]),
                   "stands for the whole account"),
}


def _iam_state(sandbox) -> dict[str, Any]:
    """Everything an apply could have written: roles, policies and attachments in both accounts,
    and the export bucket's policy."""
    state: dict[str, Any] = {}
    for profile in ("sandbox-main", "sandbox-consumer"):
        iam = sandbox.session(profile).client("iam")
        state[profile] = {
            "roles": sorted(r["Arn"] for r in iam.list_roles()["Roles"]),
            "policies": sorted((p["Arn"], p["DefaultVersionId"], p["AttachmentCount"])
                               for p in iam.list_policies(Scope="Local")["Policies"]),
            "analyst": sorted(p["PolicyArn"] for p in
                              iam.list_attached_user_policies(UserName="analyst")["AttachedPolicies"])
            if profile == "sandbox-consumer" else [],
        }
    s3 = sandbox.session("sandbox-consumer").client("s3")
    try:
        state["bucket-policy"] = s3.get_bucket_policy(Bucket=EXPORT_BUCKET)["Policy"]
    except s3.exceptions.ClientError:
        state["bucket-policy"] = None
    return state


@pytest.fixture
def aws_calls(monkeypatch) -> list[str]:
    """Every AWS API call this process makes (a spy: the calls still go to the sandbox)."""
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def spy(self, operation_name, api_params):
        calls.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    return calls


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_params_are_refused_with_one_line_before_any_aws_call(sandbox, tmp_path, capsys,
                                                                      aws_calls, name):
    text, says = HOSTILE[name]
    params = tmp_path / f"{name}.yaml"
    params.write_text(text)
    before = _iam_state(sandbox)
    aws_calls.clear()
    code = main(["apply", "--params", str(params), "--yes"])
    made = list(aws_calls)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("xacct-nb: error: ") and says in err, err
    assert out == ""
    assert made == []  # refused before the first AWS call: nothing read, nothing written
    assert _iam_state(sandbox) == before


def test_the_same_files_without_the_hostile_part_do_reach_aws(sandbox, tmp_path, capsys, aws_calls):
    """The spy sees calls when there are any: the refusals above are not an artefact."""
    params = tmp_path / "fine.yaml"
    params.write_text(_with(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/analyst"]))
    assert main(["plan", "--params", str(params)]) == 0
    assert any(call.startswith("iam:") for call in aws_calls)
    assert "trust-match" in capsys.readouterr().out


@pytest.fixture
def consumer_roles(sandbox):
    iam = sandbox.session("sandbox-consumer").client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"}, "Action": "sts:AssumeRole"}]})
    made = [("/analysts/", "alice"), ("/analysts/", "bob"), ("/aws-reserved/sso.amazonaws.com/",
                                                            "AWSReservedSSO_AdministratorAccess_1a2b")]
    for path, name in made:
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)
    yield [f"arn:aws:iam::{CONSUMER}:role{path}{name}" for path, name in made]
    for _, name in made:
        iam.delete_role(RoleName=name)


def test_plan_notes_the_principals_each_trust_pattern_admits(sandbox, consumer_roles):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    patterns = [f"arn:aws:iam::{CONSUMER}:user/analyst", f"arn:aws:iam::{CONSUMER}:role/analysts/*",
                f"arn:aws:iam::{CONSUMER}:role/aws-reserved/*", f"arn:aws:iam::{CONSUMER}:user/nobody-?"]
    shown = plan(new_spec(trusted_principal_arns=patterns), **aws)
    notes = {c.name: c for c in shown.changes if c.resource == "trust-match"}
    assert list(notes) == patterns and {c.action for c in notes.values()} == {"no-op"}
    assert notes[patterns[0]].detail == "admits 1 existing principal(s) now: user/analyst"
    assert notes[patterns[1]].detail == ("admits 2 existing principal(s) now: role/analysts/alice, "
                                         "role/analysts/bob")
    assert "AWSReservedSSO_AdministratorAccess_1a2b" in notes[patterns[2]].detail
    assert notes[patterns[3]].detail == "admits no existing principal now"
    assert "role/analysts/alice" in shown.text()  # the note is in what the operator reviews
    # ...and only with trusted_principal_arns: the default trust names consumer_principal only
    assert not [c for c in plan(new_spec(), **aws).changes if c.resource == "trust-match"]


def test_trust_note_says_when_the_principals_cannot_be_listed(sandbox):
    spec = new_spec(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/ana*"])
    analyst = sandbox.session("sandbox-analyst").client("iam")  # may not list users and roles
    (row,) = trust_match_changes(spec, analyst)
    assert row.detail.startswith("matching principals not listed: consumer_profile may not list users and roles")
    (row,) = trust_match_changes(spec, None)
    assert "this plan does not read the consumer account" in row.detail
    main_only = plan(spec, main=sandbox.session("sandbox-main"), sides=("main",))
    assert [c.detail for c in main_only.changes if c.resource == "trust-match"] == [row.detail]


# --- `--out` is checked before the read starts ----------------------------------------------------

BAD_OUT = [  # (path relative to tmp_path, extra arguments, what the one line says)
    ("no/such/dir/x.csv", [], "folder {tmp}/no/such/dir does not exist — create it first"),
    ("rows.txt", [], "unknown format ('.txt') — end the file name in .csv, .parquet, .jsonl"),
    ("rows", [], "unknown format (no extension)"),
    ("rows.CSV.bak", [], "unknown format ('.bak')"),
    ("existing-folder", [], "is a folder — name a file in it"),
    ("a-file.csv/x.csv", [], "{tmp}/a-file.csv is not a folder"),
    ("no/such/dir/dataset", ["--dask"], "folder {tmp}/no/such/dir does not exist"),
]


@pytest.mark.parametrize(("out", "extra", "says"), BAD_OUT)
def test_out_is_checked_before_the_read(tmp_path, capsys, aws_calls, out, extra, says):
    (tmp_path / "existing-folder").mkdir()
    (tmp_path / "a-file.csv").write_text("")
    argv = ["scan", "--params", str(ROOT / "params" / "local.yaml"), "--table", "orders",
            "--out", str(tmp_path / out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says.format(tmp=tmp_path) in err, err
    assert aws_calls == []


@pytest.mark.parametrize("out", ["rows.csv", "rows.PARQUET", "rows.jsonl"])
def test_known_formats_in_an_existing_folder_pass_the_check(tmp_path, out):
    from xacct_nb.cli import check_out_path

    check_out_path(str(tmp_path / out))
    check_out_path(out)  # the current folder
    check_out_path(str(tmp_path / "new-dataset"), folder=True)
