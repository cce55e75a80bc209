"""The real runbook notebooks, run under papermill against the sandbox, as `xacct-nb run` does.

One module-scoped run of 01→05 with params/local.yaml (apply and teardown confirmed) feeds most
assertions; dry-run and failure behaviour get runs of their own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from xacct_nb import runbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
pytestmark = pytest.mark.notebook


def _run(notebook, overrides=None, *, runs_dir, env="local", params_dir=ROOT / "params"):
    return runbook.run_notebook(notebook, env, overrides, notebooks_dir=NOTEBOOKS,
                                params_dir=params_dir, runs_dir=runs_dir)


@pytest.fixture(scope="module")
def demo_run(sandbox, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    records = runbook.run_all("local", {"confirm": "local"}, notebooks=runbook.NOTEBOOKS,
                              notebooks_dir=NOTEBOOKS, params_dir=ROOT / "params", runs_dir=runs)
    return records, runs


def test_notebooks_are_committed_clean_and_safe():
    for name in runbook.NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "xacct-nb", name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
            f"{name} has committed outputs: clear them"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name} needs exactly one cell tagged parameters"
        params = runbook.declared_parameters(NOTEBOOKS / f"{name}.ipynb")
        # papermill silently skips a line with two "=" (e.g. one in the comment): every
        # assignment in the parameters cell must be a declared parameter.
        assignments = [line for line in tagged[0].source.splitlines() if "=" in line]
        assert len(assignments) == len(params), f"{name}: papermill cannot parse {assignments}"
        # A bare run must never change anything: confirm defaults to empty.
        if "confirm" in params:
            assert params["confirm"]["default"] == '""', name
        assert all(p["help"] for p in params.values()), f"{name}: every parameter needs a comment"


def test_the_whole_runbook_passes(demo_run):
    records, _ = demo_run
    assert [r.notebook for r in records] == list(runbook.NOTEBOOKS)
    failed = [r.line() for r in records if not r.ok]
    assert not failed, failed
    facts = {}
    for r in records:
        facts.update(r.recorded)
    assert facts["role_arn"] == "arn:aws:iam::111111111111:role/local-ddb_cross_acc_access_role-222222222222"
    assert facts["tables"] == {"orders": "Read", "customers": "ReadWriteUpdate"}
    assert facts["main_applied"] and facts["consumer_applied"] and facts["assumable"] is True
    assert facts["rows_read"] == 500  # the default budget on a 2000-item table
    assert facts["assumed_arn"].startswith("arn:aws:sts::111111111111:assumed-role/local-ddb_cross_acc_access_role")
    assert facts["matrix"]["FAIL"] == 0 and facts["matrix"]["PASS"] > 0


def test_teardown_left_nothing_of_ours(demo_run, sandbox):
    iam = sandbox.session("sandbox-main").client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert "local-ddb_cross_acc_access_role-222222222222" not in roles
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert not [p for p in policies if p.startswith("local-DynamoDBTableAccess-")]


def test_records_hold_no_credentials(demo_run, sandbox):
    _, runs = demo_run
    secrets = set(re.findall(r"= (\S+)", sandbox.credentials_file.read_text()))
    assert len(secrets) == 8  # four profiles × (key id, secret)
    artefacts = [p for p in runs.rglob("*") if p.is_file()]
    assert len(artefacts) >= 10  # a notebook and a sidecar per run
    for path in artefacts:
        text = path.read_text(errors="replace")
        assert not any(s in text for s in secrets), path
        assert not re.search(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", text), path


def test_sidecars_describe_the_run(demo_run):
    records, _ = demo_run
    side = json.loads(Path(records[0].sidecar).read_text())
    assert side["parameters"]["confirm"] == "local"
    assert side["parameters"]["params_file"].endswith("params/local.yaml")
    assert side["git_commit"] is None or re.match(r"^[0-9a-f]{40}", side["git_commit"])
    assert side["ok"] and side["error"] is None


def test_dry_run_changes_nothing(sandbox, tmp_path):
    record = _run("01", runs_dir=tmp_path)  # no confirm
    assert record.ok, record.line()
    assert record.recorded["main_applied"] is False
    assert record.recorded["main_plan"]["create"] > 0
    iam = sandbox.session("sandbox-main").client("iam")
    assert "local-ddb_cross_acc_access_role-222222222222" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_wrong_account_stops_with_a_recorded_error(sandbox, tmp_path):
    data = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    data["main_profile"] = "sandbox-consumer"  # an admin, but of the wrong account
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "wrongacct.yaml").write_text(yaml.safe_dump(data))
    record = _run("01", {"confirm": "wrongacct"}, runs_dir=tmp_path / "runs", env="wrongacct",
                  params_dir=tmp_path / "params")
    assert not record.ok
    assert record.error["ename"] == "InputError"
    assert "main_profile" in record.error["evalue"] and "111111111111" in record.error["evalue"]
    assert json.loads(Path(record.sidecar).read_text())["error"]["ename"] == "InputError"


def test_cli_run_rejects_unknown_parameter_before_the_kernel(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "run", "01", "--env", "local",
                           "-p", "confrim=local", "--runs-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "confrim" in proc.stderr and "confirm" in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())
