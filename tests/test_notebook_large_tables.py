"""Notebook 06 (large tables) under papermill against the sandbox: start an export as the role,
follow it, read it with Dask as the analyst — the same rows as the table holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import nbformat
import pytest
import yaml

from test_provisioning import BASE
from xacct_nb.provisioning import apply, destroy
from xacct_nb.runbook import RECORD_MIME
from xacct_nb.sandbox.seed import EXPORT_BUCKET
from xacct_nb.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.notebook


def _papermill(out: Path, *params: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "06_large_tables.ipynb"), str(out),
            "-k", "xacct-nb", "--no-progress-bar"]
    for pair in params:
        key, _, value = pair.partition("=")
        args += ["-p", key, value]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _recorded(out: Path) -> dict:
    nb = nbformat.read(out, as_version=4)
    return next(o["data"][RECORD_MIME] for c in nb.cells if c.cell_type == "code"
                for o in c.get("outputs", []) if RECORD_MIME in o.get("data", {}))


def test_notebook_06_exports_and_reads_with_dask(sandbox, tmp_path):
    env = f"t{uuid4().hex[:6]}"
    params = tmp_path / f"{env}.yaml"
    params.write_text(yaml.safe_dump({**BASE, "env": env,
                                      "export": {"bucket": EXPORT_BUCKET, "prefix": f"nb/{env}"}}))
    spec = load_spec(params)
    apply(spec, yes=True, wait=False)
    try:
        out = tmp_path / "06.ipynb"
        ran = _papermill(out, f"params_file={params}", "table=orders", "start_export=True")
        assert ran.returncode == 0, ran.stderr[-2000:]
        facts = _recorded(out)
        assert facts["rows_read"] == sandbox.counts["orders"] and facts["partitions"] >= 2
        assert facts["export_location"].startswith(f"s3://{EXPORT_BUCKET}/nb/{env}/AWSDynamoDB/")
        # a dry run (the default) starts nothing and reads nothing
        dry = _papermill(tmp_path / "dry.ipynb", f"params_file={params}")
        assert dry.returncode == 0, dry.stderr[-2000:]
        assert _recorded(tmp_path / "dry.ipynb")["rows_read"] == 0
    finally:
        destroy(spec, yes=True)
    assert json.dumps(facts)  # JSON-able, as the runbook's sidecar needs
