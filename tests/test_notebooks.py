"""The real runbook notebooks, run under papermill against the sandbox, as `xacct-nb run` does.

One module-scoped run of 01→05 with params/local.yaml (apply and teardown confirmed by `yes`, the
automation path) feeds most assertions; dry-run and failure behaviour get runs of their own.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
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
    records = runbook.run_all("local", notebooks=runbook.RUNBOOK, yes=True,
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
    assert [r.notebook for r in records] == list(runbook.RUNBOOK)
    failed = [r.line() for r in records if not r.ok]
    assert not failed, failed
    facts = {}
    for r in records:
        facts.update(r.recorded)
    assert facts["role_arn"] == "arn:aws:iam::111111111111:role/local-ddb_cross_acc_access_role-222222222222"
    assert facts["tables"] == {"orders": "Read", "customers": "ReadWriteUpdate", "payments": "Read", "ledger": "Read"}
    assert facts["main_applied"] and facts["consumer_applied"] and facts["assumable"] is True
    assert facts["rows_read"] == 500  # the default budget on a 2000-item table
    assert facts["assumed_arn"].startswith("arn:aws:sts::111111111111:assumed-role/local-ddb_cross_acc_access_role")
    assert facts["matrix"]["FAIL"] == 0 and facts["matrix"]["PASS"] > 0


def test_plan_and_verification_records_carry_the_diagram_for_lab_and_html(demo_run):
    """Notebooks 01 and 04 show the grant: Mermaid Markdown (JupyterLab draws it) and the same graph
    as SVG, which the HTML record shows — no <pre class="mermaid"> waiting for mermaid.js from a CDN."""
    records, _ = demo_run
    for record in (r for r in records if r.notebook.startswith(("01_", "04_"))):
        outputs = [o for c in json.loads(Path(record.output).read_text())["cells"] for o in c.get("outputs", [])]
        pictures = [o["data"] for o in outputs if "image/svg+xml" in o.get("data", {})]
        assert len(pictures) == 1, record.notebook
        assert "".join(pictures[0]["text/markdown"]).startswith("```mermaid\nflowchart LR")
        assert "ledger" in "".join(pictures[0]["image/svg+xml"])
        page = runbook._render_html(Path(record.output)).read_text()
        assert 'data-mime-type="image/svg+xml"' in page and 'class="mermaid"' not in page, record.notebook


def test_teardown_left_nothing_of_ours(demo_run, sandbox):
    iam = sandbox.session("sandbox-main").client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert "local-ddb_cross_acc_access_role-222222222222" not in roles
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert not [p for p in policies if p.startswith("local-DynamoDBTableAccess-")]


def test_records_hold_no_credentials(demo_run, sandbox):
    _, runs = demo_run
    credentials = sandbox.credentials_file.read_text()
    secrets = set(re.findall(r"= (\S+)", credentials))
    profiles = re.findall(r"^\[([^\]]+)\]", credentials, re.M)
    assert len(profiles) >= 4 and len(secrets) == 2 * len(profiles)  # each profile: key id, secret
    artefacts = [p for p in runs.rglob("*") if p.is_file()]
    assert len(artefacts) >= 10  # a notebook and a sidecar per run
    for path in artefacts:
        text = path.read_text(errors="replace")
        assert not any(s in text for s in secrets), path
        assert not re.search(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", text), path


def test_sidecars_describe_the_run(demo_run):
    records, _ = demo_run
    side = json.loads(Path(records[0].sidecar).read_text())
    # yes: the runner computed the plan's id just before the run; the notebook applied that plan
    assert side["parameters"]["confirm"] == side["recorded"]["plan_id"] and side["recorded"]["applied"]
    assert side["parameters"]["params_file"].endswith("params/local.yaml")
    declared = runbook.declared_parameters(NOTEBOOKS / "01_main_account_setup.ipynb")
    assert set(side["parameters"]) == set(declared)  # every parameter, injected and recorded
    assert side["source"]["origin"].startswith("git HEAD ") or side["source"]["origin"].startswith("file ")
    assert re.fullmatch(r"[0-9a-f]{64}", side["source"]["sha256"])
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


# -- the notebooks check their own parameters (papermill used directly) ---------------------------

def test_the_check_cell_declares_what_papermill_infers():
    """The cell after `parameters` checks the same names and types `xacct-nb run` checks."""
    for name in runbook.NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        check = nb.cells[index + 1].source
        declared = {n: p["type"] for n, p in runbook.declared_parameters(NOTEBOOKS / f"{name}.ipynb").items()}
        call = next(node for node in ast.walk(ast.parse(check)) if isinstance(node, ast.Call)
                    and getattr(node.func, "id", "") == "check_parameters")
        assert [ast.literal_eval(arg) for arg in call.args] == [f"{name}.ipynb", declared], (name, check)


def _papermill(notebook: str, out: Path, *params: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(NOTEBOOKS / f"{notebook}.ipynb"), str(out),
            "-k", "xacct-nb", "--no-progress-bar"]
    for pair in params:
        key, _, value = pair.partition("=")
        args += ["-p", key, value]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=180)


def _error_of(output: Path) -> dict:
    nb = nbformat.read(output, as_version=4)
    return next(o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if o.output_type == "error")


def test_papermill_with_an_unknown_parameter_fails_like_xacct_nb_run(sandbox, tmp_path):
    cli = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "run", "01", "--env", "local",
                          "-p", "confrim=local", "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    expected = cli.stderr.strip().removeprefix("xacct-nb: error: ")
    assert cli.returncode == 2 and expected.startswith("parameter confrim is not declared")
    proc = _papermill("01_main_account_setup", tmp_path / "out.ipynb", "confrim=local")
    assert proc.returncode != 0, "a misspelt parameter ran as a silent dry run"
    # papermill's CLI prints our one line, not its own ~30-line traceback before it
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"papermill: error at cell 3: InputError: {expected}"
    error = _error_of(tmp_path / "out.ipynb")
    assert error.ename == "InputError" and error.evalue == expected
    # one line, not our internal frames; the whole traceback stays one call away
    assert len(error.traceback) == 2 and expected in error.traceback[0]
    assert "full_traceback()" in error.traceback[1]


def test_papermill_with_an_ill_typed_parameter_fails_with_one_line(sandbox, tmp_path):
    proc = _papermill("03_assume_and_explore", tmp_path / "out.ipynb", "limit=abc")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1].endswith(
        str(runbook.invalid_parameter("limit", "abc", "int")))
    error = _error_of(tmp_path / "out.ipynb")
    assert error.ename == "InputError"
    assert error.evalue == str(runbook.invalid_parameter("limit", "abc", "int"))


@pytest.mark.parametrize("cwd", ["repo root", "notebooks"])
def test_papermill_finds_the_default_params_file_from_either_folder(sandbox, tmp_path, cwd):
    out = tmp_path / "out.ipynb"
    proc = _papermill("01_main_account_setup", out, cwd=ROOT if cwd == "repo root" else NOTEBOOKS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "Dry run: nothing changed" in text or "Nothing to apply" in text  # it read params/local.yaml and planned


def test_every_sidecar_records_the_caller(demo_run):
    records, _ = demo_run
    for record in records:
        side = json.loads(Path(record.sidecar).read_text())
        assert side["recorded"].get("caller_arn", "").startswith("arn:aws:"), record.notebook


def test_run_all_without_confirm_stops_after_the_dry_runs(sandbox, tmp_path):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "run-all", "--env", "local",
                           "--runs-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert time.monotonic() - started < 60  # no waiting for access that was never granted
    ran = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "local").glob("*.json"))
    assert ran == ["01_main_account_setup.json", "02_consumer_account_setup.json"], ran
    out = proc.stdout
    plan_ids = re.findall(r"dry run — to apply: xacct-nb run (0[12]) --env local -p confirm=(\w+)", out)
    assert [nb for nb, _ in plan_ids] == ["01", "02"], out
    # what it suggests is the plans' ids, never the env name
    steps = "; ".join(f"xacct-nb run {nb} --env local -p confirm={pid}" for nb, pid in plan_ids)
    assert f"apply each: {steps}; then: xacct-nb run-all --env local" in out
    assert "confirm=local" not in out
    assert "SIDE" in out and "create" in out  # the plan tables themselves


def test_the_ids_xacct_nb_plan_prints_are_accepted_by_each_side(sandbox, tmp_path):
    plan = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "plan", "--params", "params/local.yaml"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    sides = dict(re.findall(r"to apply the (main|consumer) side: xacct-nb run 0[12] --env local -p confirm=(\w+)",
                            plan.stdout))
    assert set(sides) == {"main", "consumer"}, plan.stdout
    # the notebooks plan one side each: their own plan ids are exactly the printed ones
    first = _run("01", runs_dir=tmp_path)
    second = _run("02", runs_dir=tmp_path)
    assert first.recorded["plan_id"] == sides["main"] and second.recorded["plan_id"] == sides["consumer"]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xacct_nb.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def _save_confirm(notebook: Path, confirm: str) -> None:
    """What a lab session leaves in a file: confirm typed into the parameters cell, the notebook
    run (outputs) and saved."""
    nb = nbformat.read(notebook, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = re.sub(r'confirm: str = ""', f'confirm: str = "{confirm}"', params.source)
    assert confirm in params.source
    params.outputs = [nbformat.v4.new_output("stream", text="saved\n")]
    nbformat.write(nb, notebook)


def test_a_confirm_saved_in_the_lab_never_turns_a_batch_run_into_an_apply(sandbox, tmp_path):
    """Issue 19's first defect: confirms saved in 01, 02 and 05 (the reviewed ids, and an env
    name) leave the next `run-all` a dry run (exit 3) whose records show confirm "", and 05 a
    dry run too."""
    work = tmp_path / "checkout"
    shutil.copytree(NOTEBOOKS, work / "notebooks")
    shutil.copytree(ROOT / "params", work / "params")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run([*git, "add", "notebooks", "params"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "notebooks"], cwd=work, check=True)
    first = _cli("run-all", "--env", "local", "--runs-dir", str(tmp_path / "dry"), cwd=work)
    assert first.returncode == 3, first.stdout + first.stderr
    ids = dict(re.findall(r"dry run — to apply: xacct-nb run (0[12]) --env local -p confirm=(\w+)", first.stdout))
    _save_confirm(work / "notebooks" / "01_main_account_setup.ipynb", ids["01"])
    _save_confirm(work / "notebooks" / "02_consumer_account_setup.ipynb", ids["02"])
    _save_confirm(work / "notebooks" / "05_teardown.ipynb", "local")

    proc = _cli("run-all", "--env", "local", "--runs-dir", str(tmp_path / "runs"), cwd=work)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "applied plan" not in proc.stdout
    teardown = _cli("run", "05", "--env", "local", "--runs-dir", str(tmp_path / "runs"), cwd=work)
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    sidecars = sorted((tmp_path / "runs" / "local").glob("*.json"))
    assert len(sidecars) == 3
    for path in sidecars:
        side = json.loads(path.read_text())
        assert side["parameters"]["confirm"] == "", path.name
        assert side["source"]["working_copy_differs"] is True and side["source"]["origin"].startswith("git HEAD ")
        assert not side["recorded"]["applied"], path.name
    iam = sandbox.session("sandbox-main").client("iam")
    assert "local-ddb_cross_acc_access_role-222222222222" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_run_refuses_an_ungranted_table_before_any_kernel(tmp_path):
    started = time.monotonic()
    proc = _cli("run", "03", "--env", "local", "-p", "table=payroll", "--runs-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("xacct-nb: error: parameter table: 'payroll' is not in the spec's table "
                                   "list — granted tables: orders, customers, payments, ledger")
    assert not any(tmp_path.iterdir()) and time.monotonic() - started < 30


def test_notebook_03_record_stays_small_with_its_viewer_beside_it(demo_run):
    """The DataTables bundle (~1 MB) is one file beside the records, not a copy per table: the
    notebook-03 record and its HTML stay under 1 MB, and the HTML loads the file next to it."""
    from xacct_nb.notebook import viewer_file_name, viewer_script

    records, _ = demo_run
    record = next(r for r in records if r.notebook == "03_assume_and_explore")
    output = Path(record.output)
    viewer = output.parent / viewer_file_name()
    assert viewer.read_text() == viewer_script() and len(viewer_script()) > 500_000
    text = output.read_text()
    assert len(text.encode()) < 1_000_000, f"notebook-03 record is {len(text.encode()):,} bytes"
    assert "injectCSS(" not in text and viewer_file_name() in text
    html = runbook._render_html(output)
    size = html.stat().st_size
    print(f"notebook-03 record: {len(text.encode()):,} bytes .ipynb, {size:,} bytes .html")
    assert size < 1_000_000, f"notebook-03 HTML record is {size:,} bytes"
    assert f'"{viewer_file_name()}"' in html.read_text()
