"""The runbook runner on small purpose-built notebooks: checks before the kernel, records, redaction.

The real notebooks run end to end in tests/test_notebooks.py; here each behaviour of the runner is
isolated so a failure points at it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from xacct_nb import runbook
from xacct_nb.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _notebook(folder: Path, name: str, params: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "xacct-nb", "display_name": "Python (xacct-nb)",
                                 "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def project(tmp_path):
    """A throwaway project layout: notebooks/, params/local.yaml, runs/."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    shutil.copy(ROOT / "params" / "local.yaml", tmp_path / "params" / "local.yaml")
    return tmp_path


def _run(project, notebook, overrides=None):
    return runbook.run_notebook(str(project / "notebooks" / f"{notebook}.ipynb"), "local", overrides,
                                notebooks_dir=project / "notebooks", params_dir=project / "params",
                                runs_dir=project / "runs")


def test_overrides_are_parsed_and_typed():
    assert runbook.parse_overrides(["confirm=dev", "limit=5", "x="]) == {"confirm": "dev", "limit": "5", "x": ""}
    with pytest.raises(InputError, match="KEY=VALUE"):
        runbook.parse_overrides(["novalue"])
    assert runbook.coerce("dry_run", "false", "bool") is False
    assert runbook.coerce("limit", "12", "int") == 12
    with pytest.raises(InputError, match="parameter limit: 'ten' is not a valid int"):
        runbook.coerce("limit", "ten", "int")


def test_unknown_parameter_is_rejected_before_any_kernel(project):
    _notebook(project / "notebooks", "nb", 'params_file = ""  # spec\nlimit = 10  # rows', "print(limit)")
    with pytest.raises(InputError) as err:
        _run(project, "nb", {"limt": "5"})
    assert "limt" in str(err.value) and "limit" in str(err.value) and "params_file" in str(err.value)
    assert not (project / "runs").exists()  # no record, so no kernel was started


def test_ill_typed_parameter_is_rejected_before_any_kernel(project):
    _notebook(project / "notebooks", "nb", "limit = 10  # rows", "print(limit)")
    with pytest.raises(InputError, match="limit"):
        _run(project, "nb", {"limit": "lots"})
    assert not (project / "runs").exists()


def test_missing_params_file_is_rejected(project):
    _notebook(project / "notebooks", "nb", 'params_file = ""', "pass")
    with pytest.raises(InputError, match="--env prod: no .*prod.yaml"):
        runbook.run_notebook(str(project / "notebooks" / "nb.ipynb"), "prod",
                             params_dir=project / "params", runs_dir=project / "runs")


def test_missing_kernel_is_detected_up_front(project):
    _notebook(project / "notebooks", "nb", "x = 1", "pass")
    with pytest.raises(InputError, match="ipykernel install --sys-prefix --name no-such-kernel"):
        runbook.run_notebook(str(project / "notebooks" / "nb.ipynb"), "local",
                             params_dir=project / "params", runs_dir=project / "runs",
                             kernel="no-such-kernel")


def test_successful_run_leaves_record_and_sidecar(project):
    _notebook(project / "notebooks", "nb", 'params_file = ""  # spec\nlimit = 10',
              "from xacct_nb.notebook import record\nrecord(rows=limit * 2, spec=params_file)")
    rec = _run(project, "nb", {"limit": "21"})
    assert rec.ok and rec.error is None
    assert Path(rec.output).parent == project / "runs" / "local"
    assert not os.access(rec.output, os.W_OK) or os.geteuid() == 0  # read-only (root ignores it)
    assert oct(Path(rec.output).stat().st_mode & 0o222) == "0o0"
    side = json.loads(Path(rec.sidecar).read_text())
    assert side["parameters"]["limit"] == 21
    assert side["recorded"]["rows"] == 42  # computed in the kernel, carried to the sidecar
    assert side["recorded"]["spec"].endswith("params/local.yaml")
    assert side["started"] and side["finished"] and side["seconds"] > 0


def test_failed_run_records_the_error(project):
    _notebook(project / "notebooks", "nb", "x = 1",
              "from xacct_nb.notebook import stop\nstop('main_profile is account 2, expected 1')")
    rec = _run(project, "nb")
    assert not rec.ok
    assert rec.error["cell"] == 2 and rec.error["ename"] == "InputError"  # after the injected cell
    assert "expected 1" in rec.error["evalue"]
    side = json.loads(Path(rec.sidecar).read_text())
    assert side["ok"] is False and side["error"]["ename"] == "InputError"
    assert Path(rec.output).exists()  # papermill still wrote the notebook with the error


def test_records_are_never_overwritten(project):
    _notebook(project / "notebooks", "nb", "x = 1", "print(x)")
    first, second = _run(project, "nb"), _run(project, "nb")
    assert first.output != second.output and first.sidecar != second.sidecar
    assert Path(first.output).exists() and Path(second.output).exists()


def test_credentials_are_redacted_from_records(project):
    fake_key = "AKIA" + "ABCDEFGHIJKLMNOP"  # built at run time so no key-like literal sits in git
    body = (f"print('{fake_key}')\n"
            "print('aws_secret_access_key = ' + 'x' * 40)\n"
            f"from xacct_nb.notebook import record\nrecord(leak='{fake_key}')")
    _notebook(project / "notebooks", "nb", "x = 1", body)
    rec = _run(project, "nb")
    assert rec.redactions >= 2
    for path in (rec.output, rec.sidecar):
        text = Path(path).read_text()
        assert fake_key not in text and "x" * 40 not in text
        assert "[REDACTED]" in text


def test_profile_secrets_are_redacted_even_without_a_pattern(project, sandbox):
    """A bare secret key matches no pattern; the runner redacts the spec's profiles' secrets verbatim."""
    import boto3

    secret = boto3.Session(profile_name="sandbox-analyst").get_credentials().get_frozen_credentials().secret_key
    body = ("import boto3\n"
            "print(boto3.Session(profile_name='sandbox-analyst').get_credentials().get_frozen_credentials().secret_key)")
    _notebook(project / "notebooks", "nb", "x = 1", body)
    rec = _run(project, "nb")
    assert rec.ok and rec.redactions >= 1
    assert secret not in Path(rec.output).read_text()


def test_html_rendering_is_written_read_only_and_redacted(project):
    fake_key = "AKIA" + "QRSTUVWXYZ234567"
    _notebook(project / "notebooks", "nb", "x = 1", f"print('{fake_key}')\nprint('rendered ' + str(x))")
    rec = runbook.run_notebook(str(project / "notebooks" / "nb.ipynb"), "local", html=True,
                               notebooks_dir=project / "notebooks", params_dir=project / "params",
                               runs_dir=project / "runs")
    page = Path(rec.html).read_text()
    assert rec.html.endswith(".html") and "rendered 1" in page
    assert fake_key not in page and "[REDACTED]" in page
    assert oct(Path(rec.html).stat().st_mode & 0o222) == "0o0"


def test_lab_without_a_running_sandbox_says_how_to_start_one(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "lab", "--sandbox", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "xacct-nb sandbox" in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_passes_jupyter_options_and_starts_as_root(tmp_path):
    """`xacct-nb lab --no-browser --port P --ip 127.0.0.1` starts JupyterLab on that port, also as
    root (where Jupyter refuses to start without --allow-root)."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")  # its workspace/ goes next to them
    proc = subprocess.Popen([sys.executable, "-m", "xacct_nb.cli", "lab", "--notebooks", str(tmp_path / "notebooks"),
                             "--no-browser", "--port", str(port), "--ip", "127.0.0.1",
                             "--IdentityProvider.token=t0ken", "--ServerApp.port_retries=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t0ken", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer on the port it was given"
                time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_lab_detects_a_dead_sandbox(tmp_path):
    """A killed sandbox leaves sandbox.json behind: lab says so in one line and removes it."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    (tmp_path / "sandbox.json").write_text(json.dumps(
        {"endpoint_url": f"http://127.0.0.1:{_free_port()}", "pid": dead.pid}))
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "lab", "--sandbox", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"process {dead.pid} is gone" in proc.stderr and "xacct-nb sandbox --dir" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sandbox.json").exists()


def test_lab_detects_a_sandbox_that_does_not_answer(tmp_path):
    import subprocess
    import sys

    endpoint = f"http://127.0.0.1:{_free_port()}"
    # alive, but no server
    (tmp_path / "sandbox.json").write_text(json.dumps({"endpoint_url": endpoint, "pid": os.getpid()}))
    # the health check is a signed call with the sandbox's own profiles
    (tmp_path / "config").write_text(f"[profile sandbox-main]\nregion = us-east-1\nendpoint_url = {endpoint}\n")
    (tmp_path / "credentials").write_text("[sandbox-main]\naws_access_key_id = AKIAEXAMPLE\n"
                                          "aws_secret_access_key = example\n")
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "lab", "--sandbox", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "does not answer" in proc.stderr


def test_other_commands_still_reject_unknown_options():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "verify", "--params", "x.yaml", "--allow-root"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unrecognized arguments: --allow-root" in proc.stderr


def test_run_summary_says_how_to_apply_a_dry_run():
    record = runbook.RunRecord(
        notebook="01_main_account_setup", env="dev", ok=True, output="r.ipynb", sidecar="r.json",
        started="", finished="", seconds=1.0, parameters={}, git_commit=None, html="r.html",
        recorded={"caller_arn": "arn:aws:iam::1:user/a", "plan_id": "abc123", "pending": True,
                  "plan_text": "Plan abc123 — apply env dev: 1 to create\nSIDE  RESOURCE\nmain  role"})
    lines = record.summary()
    assert "  dry run — to apply: xacct-nb run 01 --env dev -p confirm=abc123" in lines
    assert "  main  role" in lines and "  html: r.html" in lines and "  record: r.json" in lines
    assert "  as arn:aws:iam::1:user/a" in lines
    assert record.pending
    record.recorded.update(pending=False, applied=True)
    assert "  applied plan abc123" in record.summary() and not record.pending
    record.recorded.update(destroyed="7 change(s)")
    assert "  destroyed plan abc123" in record.summary()
    record.recorded.update(pending=True)
    assert "  dry run — to destroy: xacct-nb run 01 --env dev -p confirm=abc123" in record.summary()


# -- batch runs never inherit state from a working copy ---------------------------------------

def _git(folder: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                          check=True, capture_output=True, text=True).stdout


def _recorded_cell(params: str) -> str:
    names = [line.split("=")[0].split(":")[0].strip() for line in params.splitlines() if "=" in line]
    return "from xacct_nb.notebook import record\nrecord(seen={" + ", ".join(f"{n!r}: {n}" for n in names) + "})"


def test_a_run_executes_the_committed_notebook_with_every_parameter_injected(project):
    """A confirm (and a limit) saved in the working copy — as JupyterLab saves them — do not reach
    a batch run: it runs the notebook as committed, with every parameter's value injected."""
    import hashlib

    params = 'params_file = ""  # spec\nconfirm = ""  # plan id\nlimit = 10  # rows'
    nb = _notebook(project / "notebooks", "nb", params, _recorded_cell(params))
    committed = nb.read_text()
    _git(project, "init", "-q")
    _git(project, "add", "notebooks/nb.ipynb")
    _git(project, "commit", "-qm", "nb")
    _notebook(project / "notebooks", "nb", params.replace('confirm = ""', 'confirm = "feb182ab"')
              .replace("limit = 10", "limit = 99"), _recorded_cell(params))  # the "saved" working copy
    rec = _run(project, "nb")
    assert rec.ok, rec.line()
    assert rec.recorded["seen"]["confirm"] == "" and rec.recorded["seen"]["limit"] == 10
    side = json.loads(Path(rec.sidecar).read_text())
    assert side["parameters"]["confirm"] == "" and side["parameters"]["limit"] == 10
    assert side["parameters"]["params_file"].endswith("params/local.yaml")
    head = _git(project, "rev-parse", "HEAD").strip()
    assert f"  ran git HEAD {head}:notebooks/nb.ipynb: the working copy's changes (saved values included) " \
           "were not used" in rec.summary()
    assert side["source"] == {"origin": f"git HEAD {head}:notebooks/nb.ipynb",
                              "sha256": hashlib.sha256(committed.encode()).hexdigest(),
                              "working_copy_differs": True}
    injected = [c for c in nbformat.read(rec.output, as_version=4).cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "confirm = \"\"" in injected[0].source and "limit = 10" in injected[0].source
    # a value given on the command line is the one that runs
    assert _run(project, "nb", {"confirm": "abc"}).recorded["seen"]["confirm"] == "abc"


def test_an_untracked_notebook_runs_as_the_file_is_and_says_so(project):
    params = 'confirm = ""  # plan id\nlimit = 3'
    nb = _notebook(project / "notebooks", "nb", params, _recorded_cell(params))
    rec = _run(project, "nb")
    assert rec.ok and rec.recorded["seen"] == {"confirm": "", "limit": 3}
    assert rec.source["origin"] == f"file {nb.resolve()} (not tracked by git)"
    assert rec.parameters == {"confirm": "", "limit": 3}


def test_a_table_the_spec_does_not_grant_is_refused_before_the_first_cell(project):
    _notebook(project / "notebooks", "nb", 'params_file = ""\ntable = ""  # table', "print(table)")
    with pytest.raises(InputError, match=r"parameter table: 'payroll' is not in the spec's table list — "
                                         r"granted tables: orders, customers, payments, ledger"):
        _run(project, "nb", {"table": "payroll"})
    assert not (project / "runs").exists()  # no kernel started
    assert _run(project, "nb", {"table": "customers"}).ok


def test_yes_confirms_only_plan_notebooks(project):
    _notebook(project / "notebooks", "nb", 'confirm = ""', "pass")
    with pytest.raises(InputError, match="--yes: nb is not a plan notebook"):
        runbook.run_notebook(str(project / "notebooks" / "nb.ipynb"), "local", yes=True,
                             notebooks_dir=project / "notebooks", params_dir=project / "params",
                             runs_dir=project / "runs")


# -- a saved confirm under plain papermill --------------------------------------------------

def _papermill(nb: Path, out: Path, *args: str, env: dict | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "papermill", str(nb), str(out), "-k", "xacct-nb",
                           "--no-progress-bar", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})}, cwd=nb.parent)


def _checked_notebook(folder: Path, confirm: str) -> Path:
    nb = _notebook(folder, "nb", f'confirm = "{confirm}"  # plan id',
                   'from xacct_nb.notebook import check_parameters\ncheck_parameters("nb.ipynb", {"confirm": "str"})')
    return nb


@pytest.mark.parametrize("case", ["plain papermill", "papermill -p", "lab session", "lab variable in a batch run"])
def test_a_saved_confirm_counts_only_when_given_now(project, case):
    nb = _checked_notebook(project / "notebooks", "feb182ab")
    lab = {runbook.LAB_SESSION_ENV: str(nb)}
    args, env = {"plain papermill": ([], {}), "papermill -p": (["-p", "confirm", "feb182ab"], {}),
                 "lab session": ([], lab),
                 "lab variable in a batch run": ([], {**lab, runbook.BATCH_ENV: "1"})}[case]
    proc = _papermill(nb, project / "out.ipynb", *args, env=env)
    refused = case in ("plain papermill", "lab variable in a batch run")
    assert (proc.returncode != 0) == refused, proc.stderr[-2000:]
    if refused:
        out = nbformat.read(project / "out.ipynb", as_version=4)
        error = next(o for c in out.cells for o in c.get("outputs", []) if o.output_type == "error")
        assert error.ename == "InputError"
        assert error.evalue.startswith("confirm: nb.ipynb holds a saved confirm = 'feb182ab', and a batch "
                                       "run never takes a saved confirmation")


def test_papermill_shows_our_errors_as_one_line_and_keeps_other_tracebacks():
    """The hook papermill loads (entry point papermill.engine) shortens only our errors."""
    from importlib.metadata import entry_points

    from papermill.exceptions import PapermillExecutionError

    from xacct_nb import papermill_hook

    assert [e.value for e in entry_points(group="papermill.engine") if e.name == "xacct-nb"] == \
        ["xacct_nb.papermill_hook:Engine"]

    def failed(ename: str) -> PapermillExecutionError:
        return PapermillExecutionError(cell_index=2, exec_count=3, source="", ename=ename,
                                       evalue="parameter x is not declared", traceback=[])

    assert papermill_hook.one_line(failed("SpecError")) == \
        "papermill: error at cell 3: SpecError: parameter x is not declared"
    assert papermill_hook.one_line(failed("ValueError")) is None
    assert papermill_hook.one_line(ValueError("x")) is None


# -- the lab: working copies, and a clean stop ---------------------------------------------------

def _pids_running(*words: str) -> list[int]:
    """Processes whose command line contains every one of `words` (zombies excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(w in cmdline for w in words):
            found.append(int(proc.name))
    return found


def _lab_api(port: int, path: str, method: str = "GET", body: dict | None = None):
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "token t0ken", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def test_lab_workspace_copies_are_made_once_and_refreshed_only_when_asked(tmp_path):
    from xacct_nb.cli_support import lab_workspace

    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "01_main_account_setup.ipynb", tmp_path / "notebooks")
    folder = lab_workspace(tmp_path / "notebooks", user="ann", log=lambda _line: None)
    assert folder == tmp_path / "workspace" / "ann"
    copy = folder / "01_main_account_setup.ipynb"
    assert copy.read_text() == (ROOT / "notebooks" / "01_main_account_setup.ipynb").read_text()
    copy.write_text(copy.read_text().replace('confirm: str = \\"\\"', 'confirm: str = \\"abc\\"'))
    saved = copy.read_text()
    assert saved != (tmp_path / "notebooks" / "01_main_account_setup.ipynb").read_text()
    lab_workspace(tmp_path / "notebooks", user="ann", log=lambda _line: None)
    assert copy.read_text() == saved  # her copy is hers until she asks
    lines: list[str] = []
    lab_workspace(tmp_path / "notebooks", user="ann", refresh=True, log=lines.append)
    assert copy.read_text() == (tmp_path / "notebooks" / "01_main_account_setup.ipynb").read_text()
    assert lines == [f"lab workspace {folder}: replaced 01_main_account_setup.ipynb with the committed "
                     "versions (--refresh)"]
    assert "workspace/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("stop_with", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_lab_saves_only_working_copies_and_stops_with_its_kernels_on_a_signal(tmp_path, stop_with):
    """A lab session — a kernel started, the notebook saved with a confirm — leaves `git status`
    clean; SIGTERM, SIGHUP (a closed terminal) or Ctrl-C to `xacct-nb lab` stop JupyterLab and the
    kernel (no process left)."""
    import getpass
    import signal
    import subprocess
    import sys
    import time

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "notebooks", checkout / "notebooks")
    shutil.copy(ROOT / ".gitignore", checkout / ".gitignore")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "notebooks"]):
        _git(checkout, *args)
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    lab = subprocess.Popen([sys.executable, "-m", "xacct_nb.cli", "lab", "--no-browser", "--port", str(port),
                            "--ip", "127.0.0.1", "--IdentityProvider.token=t0ken", "--ServerApp.port_retries=0"],
                           cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert lab.poll() is None, lab.stdout.read().decode(errors="replace")[-2000:]
            try:
                _lab_api(port, "/api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.5)
        name = "01_main_account_setup.ipynb"
        listed = {item["name"] for item in _lab_api(port, "/api/contents")["content"]}
        assert name in listed and "notebooks" not in listed  # the lab's root is the workspace
        session = _lab_api(port, "/api/sessions", "POST",
                           {"path": name, "type": "notebook", "name": name, "kernel": {"name": "xacct-nb"}})
        kernel = session["kernel"]["id"]
        model = _lab_api(port, f"/api/contents/{name}")
        params = next(c for c in model["content"]["cells"] if "parameters" in c["metadata"].get("tags", []))
        params["source"] = params["source"].replace('confirm: str = ""', 'confirm: str = "feb182ab"')
        _lab_api(port, f"/api/contents/{name}", "PUT", {"type": "notebook", "format": "json",
                                                        "content": model["content"]})
        saved = checkout / "workspace" / getpass.getuser() / name
        assert 'confirm: str = \\"feb182ab\\"' in saved.read_text()
        assert _git(checkout, "status", "--porcelain") == ""  # nothing tracked changed
        assert _pids_running(kernel)  # the kernel runs
        jupyter = _pids_running("jupyterlab", f"{port}")
        assert jupyter
    finally:
        lab.send_signal(getattr(signal, stop_with))
        output = lab.communicate(timeout=90)[0].decode(errors="replace")
    assert lab.returncode == 128 + getattr(signal, stop_with), output[-2000:]
    assert f"stopped JupyterLab and its kernels ({stop_with})" in output
    deadline = time.monotonic() + 10
    while (_pids_running(kernel) or _pids_running("jupyterlab", f"{port}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _pids_running(kernel) and not _pids_running("jupyterlab", f"{port}")


def test_run_all_refuses_one_confirm_for_several_plans():
    with pytest.raises(InputError, match="one plan id cannot confirm the plans of 01_main_account_setup, "
                                         "02_consumer_account_setup"):
        runbook.run_all("local", {"confirm": "feb182ab"}, notebooks_dir=ROOT / "notebooks",
                        params_dir=ROOT / "params", runs_dir="/nonexistent")
