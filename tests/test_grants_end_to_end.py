"""Grants end to end in the sandbox, as an operator meets them on real accounts: IAM's eventual
consistency after apply, SourceIdentity required by the trust, and the backups a Full consumer
starts."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.cli import main as cli
from xacct_nb.errors import InputError, is_access_denied
from xacct_nb.provisioning import apply, destroy
from xacct_nb.sessions import assume_from_spec, whoami
from xacct_nb.spec import parse_spec
from xacct_nb.verify import verify_access

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
IAM_DELAY = 5.0


def new_spec(**changes):
    return parse_spec({**BASE, "env": f"e{uuid4().hex[:6]}", **changes})


@pytest.fixture
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture
def applied(aws):
    specs: list = []

    def run(spec, **kwargs):
        specs.append(spec)
        return apply(spec, yes=True, **aws, **kwargs)

    yield run
    for spec in specs:
        destroy(spec, yes=True, **aws)


@pytest.fixture
def iam_delay(sandbox):
    sandbox.set_iam_delay(IAM_DELAY)
    yield IAM_DELAY
    sandbox.set_iam_delay(0)


def test_apply_waits_out_iams_delay_so_an_immediate_scan_succeeds(sandbox, applied, iam_delay):
    spec = new_spec()
    start = time.monotonic()
    result = applied(spec, progress=lambda _line: None)
    assert result.assumable is True
    assert time.monotonic() - start >= iam_delay * 0.8  # it really met the delay, and waited
    role = assume_from_spec(spec, source=sandbox.session("sandbox-analyst"))
    assert role.client("dynamodb").scan(TableName="orders", Limit=2)["Count"] == 2


def test_without_the_wait_the_same_apply_is_denied_at_first(sandbox, applied, iam_delay):
    """The deny half: the delay is real, so the success above is the wait's doing."""
    spec = new_spec()
    assert applied(spec, wait=False).assumable is None
    with pytest.raises(ClientError) as err:
        sandbox.session("sandbox-analyst").client("sts").assume_role(
            RoleArn=spec.role_arn, RoleSessionName="early", SourceIdentity="analyst")
    assert is_access_denied(err.value)


def test_required_source_identity_admits_xacct_nb_and_refuses_a_role_profile(sandbox, applied, tmp_path,
                                                                             monkeypatch):
    spec = new_spec(require_source_identity=True)
    applied(spec, wait=False)
    analyst = sandbox.session("sandbox-analyst")
    role = assume_from_spec(spec, source=analyst)
    assert whoami(role).principal_arn == spec.role_arn
    # A plain AssumeRole without SourceIdentity, as botocore's role_arn profiles send it, is refused.
    with pytest.raises(ClientError) as err:
        analyst.client("sts").assume_role(RoleArn=spec.role_arn, RoleSessionName="plain")
    assert is_access_denied(err.value)

    config = tmp_path / "config"
    config.write_text(Path(sandbox.config_file).read_text() + (
        f"\n[profile analyst-as-role]\nrole_arn = {spec.role_arn}\nsource_profile = sandbox-analyst\n"
        f"region = us-east-1\nendpoint_url = {sandbox.endpoint_url}\n"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    as_role = parse_spec({**spec.to_dict(), "analyst_profile": "analyst-as-role"})
    with pytest.raises(InputError, match="profiles with role_arn cannot send a SourceIdentity"):
        assume_from_spec(as_role)
    # Without the requirement the same profile is the analyst, used as-is.
    relaxed = parse_spec({**as_role.to_dict(), "require_source_identity": False})
    applied(relaxed, wait=False)
    assert whoami(assume_from_spec(relaxed)).principal_arn == spec.role_arn


def test_a_role_arn_profile_works_as_the_analyst(sandbox, applied, tmp_path, monkeypatch, capsys):
    spec = new_spec(external_id="e2e-external-id")
    applied(spec, wait=False)
    config = tmp_path / "config"
    config.write_text(Path(sandbox.config_file).read_text() + (
        f"\n[profile analyst-as-role]\nrole_arn = {spec.role_arn}\nsource_profile = sandbox-analyst\n"
        f"external_id = e2e-external-id\nregion = us-east-1\nendpoint_url = {sandbox.endpoint_url}\n"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    as_role = parse_spec({**spec.to_dict(), "analyst_profile": "analyst-as-role"})
    params, out = tmp_path / "p.yaml", tmp_path / "orders.csv"
    params.write_text(yaml.safe_dump(as_role.to_dict()))

    assert cli(["scan", "--params", str(params), "--table", "orders", "--limit", "3", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1 + 3
    matrix = verify_access(as_role, extra_tables=["payroll"])
    assert matrix.ok, matrix.text()
    assert matrix.cell("orders", "scan").actual == "allowed" and matrix.cell("payroll", "scan").actual == "denied"
    # It is the role already, so it cannot show what the trust refuses: skipped, not passed.
    assert matrix.cell("role", "assume without the external id").result == "SKIPPED"
    capsys.readouterr()


def test_full_consumer_describes_and_deletes_the_backups_it_starts(sandbox, applied):
    spec = new_spec(table_access_list=[{"table_name": "customers", "access_type": "Full"}])
    applied(spec, wait=False)
    ddb = assume_from_spec(spec, source=sandbox.session("sandbox-analyst")).client("dynamodb")
    backup = ddb.create_backup(TableName="customers", BackupName=f"b-{spec.env}")["BackupDetails"]["BackupArn"]
    assert ddb.describe_backup(BackupArn=backup)["BackupDescription"]["BackupDetails"]["BackupArn"] == backup
    ddb.delete_backup(BackupArn=backup)
    with pytest.raises(ClientError) as err:
        ddb.describe_backup(BackupArn=backup)
    assert err.value.response["Error"]["Code"] == "BackupNotFoundException"
