"""The runbook (01 → 05) under papermill with grant_mode resource_policy, against the sandbox:
01 writes the tables' statements, 02 the consumer-side policy (and waits until the analyst can
read), 03 reads by ARN as the analyst itself (no assumed role), 04 verifies, 05 removes it all."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xacct_nb import runbook

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebook


def test_the_runbook_in_resource_policy_mode(sandbox, tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    local = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    # ledger's customer-managed key needs a key-policy statement the operator adds (this mode names
    # it, never writes it): the runbook here grants the two tables without one
    local["table_access_list"] = [t for t in local["table_access_list"] if t["table_name"] in ("orders", "customers")]
    (params / "rpol.yaml").write_text(yaml.safe_dump({**local, "env": "rpol", "grant_mode": "resource_policy"}))
    records = runbook.run_all("rpol", notebooks=runbook.RUNBOOK, yes=True, notebooks_dir=ROOT / "notebooks",
                              params_dir=params, runs_dir=tmp_path / "runs")
    assert [r.ok for r in records] == [True] * 5, [r.error for r in records if not r.ok]
    by_name = {r.notebook[:2]: r.recorded for r in records}
    assert by_name["02"]["assumable"] is True  # here: the analyst can read the first table by ARN
    assert by_name["03"]["caller_arn"] == "arn:aws:iam::222222222222:user/analyst"  # its own session
    assert by_name["03"]["rows_read"] > 0
    main = sandbox.session("sandbox-main").client("dynamodb")
    for table in ("orders", "customers"):  # 05 removed our statements
        arn = f"arn:aws:dynamodb:us-east-1:111111111111:table/{table}"
        try:
            policy = main.get_resource_policy(ResourceArn=arn)["Policy"]
        except main.exceptions.PolicyNotFoundException:
            continue
        assert "XacctNbrpolXX" not in policy


@pytest.mark.parametrize("mode", ["role", "resource_policy"])
def test_the_runbook_with_a_consumers_list_reads_as_the_chosen_consumer(sandbox, tmp_path, mode):
    """params/consumers.yaml.example as it ships; notebook 03 with `consumer` = the second
    analyst reads through that consumer's grant (its role, or its own session by ARN) and only
    its tables; 04 verifies every consumer; 05 removes it all."""
    params = tmp_path / "params"
    params.mkdir()
    example = yaml.safe_load((ROOT / "params" / "consumers.yaml.example").read_text())
    env = "mc" + mode[0]
    (params / f"{env}.yaml").write_text(yaml.safe_dump({**example, "env": env, "grant_mode": mode}))
    records = runbook.run_all(env, {"consumer": "sandbox-analyst2"}, notebooks=runbook.RUNBOOK, yes=True,
                              notebooks_dir=ROOT / "notebooks", params_dir=params, runs_dir=tmp_path / "runs")
    assert [r.ok for r in records] == [True] * 5, [r.error for r in records if not r.ok]
    read = {r.notebook[:2]: r.recorded for r in records}["03"]
    assert read["table_read"] == "customers" and read["rows_read"] > 0  # its first table (narrowed to Read)
    if mode == "role":  # the second consumer's own role (its name carries the principal's digest)
        assert read["caller_arn"].startswith(
            "arn:aws:sts::111111111111:assumed-role/mcr-ddb_cross_acc_access_role-222222222222.")
    else:
        assert read["caller_arn"] == "arn:aws:iam::222222222222:user/analyst2"
