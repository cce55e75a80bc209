"""`xacct-nb demo` (the README's main command): the whole job on a fresh local sandbox.

Starts the three-account sandbox, runs the runbook notebooks 01→05 with params/local.yaml through
the same runner as `xacct-nb run` (apply and teardown confirmed with `yes`, the automation path:
the plans are printed in the records and the summary), and prints where the records are
and what happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .runbook import RUNBOOK, RunRecord, run_all
from .sandbox import Sandbox

ENV = "local"


def run_demo(runs_dir: str = "runs", log: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    # A free port, so the demo never collides with a `xacct-nb sandbox` left running.
    with Sandbox(port=0, state_dir=os.path.join(".sandbox", "demo")) as sb:
        log(f"sandbox: moto on {sb.endpoint_url}, accounts main {sb.accounts['main']}, "
            f"consumer {sb.accounts['consumer']}, outsider {sb.accounts['outsider']} (IAM enforced)")
        saved = {k: os.environ.get(k) for k in sb.env}
        os.environ.update(sb.env)  # the notebooks' kernels inherit the sandbox profiles
        try:
            records = run_all(ENV, notebooks=RUNBOOK, runs_dir=runs_dir, yes=True, log=log)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    for line in summary(records):
        log(line)
    log(f"demo finished in {time.monotonic() - started:.0f} s")
    return 0 if len(records) == len(RUNBOOK) and all(r.ok for r in records) else 1


def summary(records: list[RunRecord]) -> list[str]:
    facts: dict = {}
    for record in records:
        facts.update(record.recorded)
    lines = ["", "summary:"]
    if "role_arn" in facts:
        lines.append(f"  role            {facts['role_arn']}")
    if "tables" in facts:
        lines.append("  tables granted  " + ", ".join(f"{t} ({lvl})" for t, lvl in facts["tables"].items()))
    if "rows_read" in facts:
        lines.append(f"  rows read       {facts['rows_read']} (as {facts.get('assumed_arn', 'the analyst')})")
    if "matrix" in facts:
        m = facts["matrix"]
        lines.append(f"  access matrix   {m.get('PASS', 0)} PASS, {m.get('FAIL', 0)} FAIL, "
                     f"{m.get('SKIPPED', 0)} SKIPPED")
    if "destroyed" in facts:
        lines.append(f"  teardown        {facts['destroyed']}")
    failed = [r for r in records if not r.ok]
    lines.append("  result          " + ("FAILED: " + failed[0].line() if failed else "all notebooks passed"))
    if records:
        lines.append(f"  records         {os.path.dirname(records[0].output)}/ (notebook + .json sidecar each)")
    return lines
