"""Batch runs of the runbook notebooks with papermill, each leaving an immutable audit record.

    record = run_notebook("01", env="dev", overrides={"confirm": "<plan id>"})

A batch run never inherits state from a working copy: it runs the notebook as committed (read
from git HEAD when the notebook is tracked; an untracked notebook runs as the file is) with EVERY
declared parameter injected — the command line's value, else the committed default — so a
`confirm` someone saved in JupyterLab is never what a batch run applies with. `yes=True` (the CLI's
`--yes`, for automation) confirms the plan the runner computes just before the notebook runs.

Before a kernel starts, everything that can be checked is checked — the notebook exists, the
params file validates, every override names a declared parameter and parses as its type, a
`table` is one the spec grants, the kernel is registered — so bad input changes nothing.
Papermill itself only warns about unknown parameters.

A run writes `runs/ENV/UTC-TIMESTAMP-NOTEBOOK.ipynb` (never overwritten, read-only afterwards)
and a JSON sidecar next to it: the effective value of every parameter, where the notebook that ran
came from and its SHA-256, caller identity, git commit, start/end, what the notebook recorded
(plan, results) and the error if any. Notebooks publish facts for the sidecar
with `xacct_nb.notebook.record(...)`; see RECORD_MIME.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomicfile import atomic_write_text
from .errors import InputError, XacctError
from .grammar import parse_assignments

RUNBOOK = (  # the whole job, in order: what `xacct-nb demo` runs
    "01_main_account_setup",
    "02_consumer_account_setup",
    "03_assume_and_explore",
    "04_verify_access",
    "05_teardown",
)
NOTEBOOKS = (*RUNBOOK, "06_large_tables")  # every notebook `xacct-nb run` knows by number
RUN_ALL = RUNBOOK[:4]  # run-all stops before teardown on purpose
KERNEL = "xacct-nb"
QUIET_ENV = "XACCT_NB_QUIET"  # progress bars off (dynamo.reader reads it too)
BATCH_ENV = "XACCT_NB_BATCH"  # set for the kernels of `xacct-nb run`: nobody is at the keyboard
LAB_SESSION_ENV = "JPY_SESSION_NAME"  # jupyter_server sets it to the notebook's path for its kernels
RECORD_MIME = "application/vnd.xacct-nb.record+json"
# What credentials look like; a record containing one is redacted and the sidecar says so.
SECRET_PATTERNS = (
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"(?i)(aws_secret_access_key|secretaccesskey|sessiontoken|aws_session_token)"
               r"(['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9/+=]{16,}"),
)


@dataclass
class RunRecord:
    notebook: str
    env: str
    ok: bool
    output: str
    sidecar: str
    started: str
    finished: str
    seconds: float
    parameters: dict[str, Any]
    git_commit: str | None
    source: dict[str, Any] = field(default_factory=dict)  # origin, sha256, working_copy_differs
    recorded: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    redactions: int = 0
    html: str | None = None

    def line(self) -> str:
        error = self.error or {}
        status = "ok" if self.ok else \
            f"FAILED at cell {error.get('cell')}: {error.get('ename')}: {error.get('evalue')}"
        return f"{self.notebook}: {status} ({self.seconds:.1f} s) -> {self.output}"

    @property
    def pending(self) -> bool:
        """A dry run that left changes waiting for a confirmation."""
        return bool(self.recorded.get("pending"))

    def summary(self) -> list[str]:
        """One screen of what the notebook did, from what it recorded: the caller, the plan and
        how to apply it, rows read, the verification verdict."""
        facts = self.recorded
        lines = [self.line()]
        if self.source.get("working_copy_differs"):
            lines.append(f"  ran {self.source['origin']}: the working copy's changes (saved values "
                         "included) were not used")
        if "caller_arn" in facts:
            lines.append(f"  as {facts['caller_arn']}")
        if "plan_text" in facts:
            lines += ["  " + line for line in str(facts["plan_text"]).splitlines()]
        verb, done = ("destroy", "destroyed") if "destroyed" in facts else ("apply", "applied")
        if self.pending:
            lines.append(f"  dry run — to {verb}: xacct-nb run {self.notebook[:2]} --env {self.env} "
                         f"-p confirm={facts['plan_id']}")
        elif "plan_text" in facts and facts.get("applied"):
            lines.append(f"  {done} plan {facts['plan_id']}")
        if "rows_read" in facts:
            lines.append(f"  read {facts['rows_read']} rows from {facts.get('table_read')}")
        if "verdict" in facts:
            lines.append(f"  {facts['verdict']}")
        if self.html:
            lines.append(f"  html: {self.html}")
        lines.append(f"  record: {self.sidecar}")
        return lines


# -- resolving inputs (no kernel yet) ------------------------------------------------------

def notebook_path(name: str, notebooks_dir: str | os.PathLike = "notebooks") -> Path:
    """`01`, `01_main_account_setup`, `…ipynb` or a path → the notebook file."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path.resolve()
    stem = path.stem
    matches = [n for n in NOTEBOOKS if n == stem or n.startswith(stem + "_")]
    if len(matches) == 1:
        candidate = Path(notebooks_dir) / f"{matches[0]}.ipynb"
        if candidate.exists():
            return candidate.resolve()
    raise InputError(f"notebook {name!r} not found in {notebooks_dir} — use one of: "
                     + ", ".join(NOTEBOOKS))


def params_file(env: str, params_dir: str | os.PathLike = "params") -> Path:
    path = Path(params_dir) / f"{env}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path(params_dir).glob("*.yaml")
                       if not p.name.endswith(".queries.yaml"))  # saved queries, not an env
        raise InputError(f"--env {env}: no {path} — create it (see params/dev.yaml.example) "
                         f"or use one of: {', '.join(known) or 'none yet'}")
    return path.resolve()


def declared_parameters(nb: Path) -> dict[str, dict[str, Any]]:
    """The notebook's `parameters` cell: name -> {type, default, help} (papermill's inference)."""
    import papermill

    return {name: {"type": _type_name(p), "default": p["default"], "help": p["help"]}
            for name, p in papermill.inspect_notebook(str(nb)).items()}


def _type_name(param: dict[str, Any]) -> str:
    """The annotation's type if there is one (`limit: int = 10`), else the default literal's type
    (papermill infers types from annotations only)."""
    if param["inferred_type_name"] not in ("None", None):
        return param["inferred_type_name"].split("[")[0]
    try:
        value = ast.literal_eval(param["default"])
    except (ValueError, SyntaxError):
        return "str"
    return "str" if value is None else type(value).__name__


def coerce(name: str, text: Any, type_name: str) -> Any:
    """Parse a `-p key=value` string as the declared type, or raise InputError naming it."""
    if not isinstance(text, str):
        return text
    try:
        if type_name == "bool":
            lowered = text.strip().lower()
            if lowered in {"true", "yes", "1", "on"}:
                return True
            if lowered in {"false", "no", "0", "off"}:
                return False
            raise ValueError
        if type_name == "int":
            return int(text)
        if type_name == "float":
            return float(text)
        if type_name in {"list", "dict", "tuple"}:
            value = ast.literal_eval(text)
            if type(value).__name__ != type_name:
                raise ValueError
            return value
    except (ValueError, SyntaxError):
        raise invalid_parameter(name, text, type_name) from None
    return text  # str, or a type papermill could not infer: passed through as text


def invalid_parameter(name: str, value: Any, type_name: str) -> InputError:
    """The error for a value that is not of the parameter's type (also raised inside notebooks)."""
    example = {"bool": "true", "int": "10", "float": "0.5", "list": "'[\"a\"]'", "dict": "'{}'"}.get(type_name, "text")
    return InputError(f"parameter {name}: {value!r} is not a valid {type_name} — pass e.g. -p {name}={example}")


def build_parameters(nb: Path, env: str, overrides: Mapping[str, Any] | None,
                     params_dir: str | os.PathLike = "params") -> dict[str, Any]:
    """Every parameter `nb` declares, with its effective value: `params_file` from `env`, then the
    overrides (checked and typed), then the notebook's default for the rest — all of them are
    injected, so nothing saved in a copy of the notebook can stand in for a value."""
    declared = declared_parameters(nb)
    parameters: dict[str, Any] = {}
    if "params_file" in declared:
        parameters["params_file"] = str(params_file(env, params_dir))
    for name, value in (overrides or {}).items():
        if name not in declared:
            raise unknown_parameter(name, nb.name, declared)
        parameters[name] = coerce(name, value, declared[name]["type"])
    for name, param in declared.items():
        if name not in parameters:
            parameters[name] = _default_value(nb.name, name, param["default"])
    return parameters


def _default_value(notebook: str, name: str, default: str) -> Any:
    try:
        return ast.literal_eval(default)
    except (ValueError, SyntaxError):
        raise InputError(f"parameter {name} of {notebook}: its default {default!r} is not a literal, so a "
                         f"batch run cannot inject it — pass -p {name}=VALUE") from None


def unknown_parameter(name: str, notebook: str, declared: Mapping[str, Any]) -> InputError:
    """The error for a parameter the notebook does not declare (also raised inside notebooks)."""
    return InputError(f"parameter {name} is not declared by {notebook} — accepted: "
                      + ", ".join(sorted(declared)))


def check_kernel(kernel: str = KERNEL) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel not in KernelSpecManager().find_kernel_specs():
        raise InputError(f"Jupyter kernel {kernel!r} is not registered — run: "
                         f"python -m ipykernel install --sys-prefix --name {kernel}")


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """CLI `-p key=value` pairs → dict (values stay text until `coerce` knows the type)."""
    return parse_assignments(pairs)


# -- the notebook that runs: as committed -------------------------------------------------

@dataclass(frozen=True)
class NotebookSource:
    """The text a batch run executes, and where it came from."""

    path: Path                 # the notebook as named (the working copy)
    text: str
    origin: str                # "git HEAD <sha>:<path>" or "file <path> (not tracked by git)"
    working_copy_differs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def facts(self) -> dict[str, Any]:
        return {"origin": self.origin, "sha256": self.sha256,
                "working_copy_differs": self.working_copy_differs}


def pristine_source(nb: Path) -> NotebookSource:
    """`nb` as committed at git HEAD when git tracks it (whatever the working copy holds: a
    confirm saved in JupyterLab, edited cells, outputs), else the file itself."""
    text = nb.read_text(encoding="utf-8")
    committed = _git(nb.parent, "show", f"HEAD:./{nb.name}")
    if committed is None:
        return NotebookSource(nb, text, f"file {nb} (not tracked by git)", False)
    top = _git(nb.parent, "rev-parse", "--show-toplevel") or ""
    sha = (_git(nb.parent, "rev-parse", "HEAD") or "").strip()
    where = os.path.relpath(nb, top.strip()) if top.strip() else nb.name
    return NotebookSource(nb, committed, f"git HEAD {sha}:{where}", committed != text)


def _git(where: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=where, capture_output=True, encoding="utf-8",
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _materialise(source: NotebookSource, folder: Path) -> Path:
    """Write the source's text under its own name in `folder` (papermill reads a path)."""
    path = folder / source.path.name
    path.write_text(source.text, encoding="utf-8")
    return path


# -- confirming by the automation flag ------------------------------------------------------

# What the plan notebooks plan (and so what their `confirm` must name): (destroy?, sides).
PLANNED_BY = {"01_main_account_setup": (False, ("main",)),
              "02_consumer_account_setup": (False, ("consumer",)),
              "05_teardown": (True, ("main", "consumer"))}


def current_plan_id(notebook: str, spec: Any) -> str:
    """The id of the plan `notebook` will compute now, from the live state (for `--yes`)."""
    from .provisioning import plan, plan_destroy

    if notebook not in PLANNED_BY:
        raise InputError(f"--yes: {notebook} is not a plan notebook ({', '.join(PLANNED_BY)}) — "
                         "pass -p confirm=PLAN_ID instead")
    destroy, sides = PLANNED_BY[notebook]
    return (plan_destroy if destroy else plan)(spec, sides=sides).id


def check_table(parameters: Mapping[str, Any], spec: Any) -> None:
    """A `table` parameter must name a table the spec grants (checked before the first cell,
    as `scan --table` is); empty means the notebook's default (the first granted table)."""
    table = parameters.get("table")
    if table and table not in spec.table_names:
        raise InputError(f"parameter table: {table!r} is not in the spec's table list — granted tables: "
                         f"{', '.join(spec.table_names) or 'none'}")


# -- running ------------------------------------------------------------------------------

def run_notebook(notebook: str, env: str, overrides: Mapping[str, Any] | None = None, *,
                 notebooks_dir: str | os.PathLike = "notebooks",
                 params_dir: str | os.PathLike = "params", runs_dir: str | os.PathLike = "runs",
                 kernel: str = KERNEL, html: bool = False, yes: bool = False,
                 log: Callable[[str], None] | None = None) -> RunRecord:
    """Run one notebook, as committed, for `env`; always leaves a record, raises nothing for a
    failed cell. `yes` confirms the plan computed just before the run (automation only)."""
    nb = notebook_path(notebook, notebooks_dir)
    path = params_file(env, params_dir)
    from .spec import load_spec

    spec = load_spec(path)  # the params file must validate before any kernel starts
    source = pristine_source(nb)
    with tempfile.TemporaryDirectory(prefix="xacct-nb-run-") as scratch:
        pristine = _materialise(source, Path(scratch))
        parameters = build_parameters(pristine, env, overrides, params_dir)
        check_table(parameters, spec)
        check_kernel(kernel)
        if yes and "confirm" in parameters and not (overrides or {}).get("confirm"):
            parameters["confirm"] = current_plan_id(nb.stem, spec)
        output = _new_record_path(Path(runs_dir) / env, nb.stem)
        started = _utcnow()
        t0 = time.monotonic()
        error = _execute(pristine, output, parameters, kernel, cwd=nb.parent)
        seconds = time.monotonic() - t0
    secrets = _profile_secrets(spec)
    recorded, redactions = _collect_and_redact(output, secrets)
    record = RunRecord(
        notebook=nb.stem, env=env, ok=error is None, output=str(output),
        sidecar=str(output.with_suffix(".json")), started=started, finished=_utcnow(),
        seconds=round(seconds, 2), parameters=parameters, git_commit=_git_commit(nb.parent),
        source=source.facts(), recorded=recorded, error=error, redactions=redactions,
    )
    if html:
        record.html = str(_render_html(output, secrets))
    _write_sidecar(record, secrets)
    os.chmod(output, 0o444)  # the record is evidence: read-only once written
    if log:
        log("\n".join(record.summary()))
    return record


def run_all(env: str, overrides: Mapping[str, Any] | None = None, *,
            notebooks: tuple[str, ...] = RUN_ALL, **kwargs: Any) -> list[RunRecord]:
    """Run notebooks in order; stop at the first failure, and before the first notebook without
    a `confirm` parameter (03, 04) when a dry run left changes unapplied: those notebooks would
    only wait for access that was never granted. Overrides go to the notebooks that declare them
    (one `confirm` cannot fit two plans, so it is refused when several plan notebooks run: pass
    `yes=True` to confirm each plan as computed, for automation, or run them one by one)."""
    planned = [n for n in notebooks if notebook_path(n, kwargs.get("notebooks_dir", "notebooks")).stem in PLANNED_BY]
    if (overrides or {}).get("confirm") and len(planned) > 1:
        raise InputError(f"-p confirm: one plan id cannot confirm the plans of {', '.join(planned)} (each has "
                         "its own) — apply each with xacct-nb run NOTEBOOK --env ENV -p confirm=PLAN_ID, "
                         "or use --yes (automation only)")
    records: list[RunRecord] = []
    for name in notebooks:
        nb = notebook_path(name, kwargs.get("notebooks_dir", "notebooks"))
        with tempfile.TemporaryDirectory(prefix="xacct-nb-run-") as scratch:
            declared = declared_parameters(_materialise(pristine_source(nb), Path(scratch)))
        if "confirm" not in declared and any(r.pending for r in records):
            break
        mine = {k: v for k, v in (overrides or {}).items() if k in declared}
        record = run_notebook(name, env, mine, **kwargs)
        records.append(record)
        if not record.ok:
            break
    return records


def _execute(nb: Path, output: Path, parameters: dict[str, Any], kernel: str, *,
             cwd: Path) -> dict[str, Any] | None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # The kernel inherits our environment: XACCT_NB_QUIET turns progress bars off in batch runs
    # (tqdm output garbles papermill records: papermill #617, #765); BATCH_ENV tells the
    # notebook's check cell that no one is at the keyboard (a JupyterLab session's variable,
    # inherited when we are started from a lab terminal, must not say otherwise).
    saved = {name: os.environ.get(name) for name in (QUIET_ENV, BATCH_ENV, LAB_SESSION_ENV)}
    os.environ.update({QUIET_ENV: "1", BATCH_ENV: "1"})
    os.environ.pop(LAB_SESSION_ENV, None)
    # Tables load the DataTables bundle from one file beside the records, not ~1 MB per cell.
    from .notebook import VIEWER_SRC_ENV, write_viewer_file

    saved[VIEWER_SRC_ENV] = os.environ.get(VIEWER_SRC_ENV)
    os.environ[VIEWER_SRC_ENV] = write_viewer_file(output.parent)
    try:
        papermill.execute_notebook(str(nb), str(output), parameters=parameters, kernel_name=kernel,
                                   cwd=str(cwd), progress_bar=False, log_output=False,
                                   kernel_manager_class=_ipc_kernel_manager())
    except PapermillExecutionError as err:
        # Our XacctError messages are one line; papermill keeps the cell's own traceback in the record.
        return {"cell": err.cell_index, "exec_count": err.exec_count, "ename": err.ename,
                "evalue": _redact(str(err.evalue))[0]}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return None


def _ipc_kernel_manager() -> type:
    """A kernel manager that talks to the kernel over local unix sockets instead of loopback TCP:
    the kernel holds assumed-role credentials, and plaintext TCP is readable by any local user
    (ipykernel warns about it on every start)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IpcKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

    return IpcKernelManager


def _new_record_path(folder: Path, stem: str) -> Path:
    """A fresh path, created exclusively so two runs can never share (and overwrite) a record."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    for n in range(1000):
        path = folder / f"{stamp}{'' if n == 0 else f'-{n}'}-{stem}.ipynb"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise XacctError(f"could not create a new record in {folder}")


def _profile_secrets(spec) -> frozenset[str]:
    """The key ids, secrets and tokens of the spec's profiles: redacted verbatim wherever they
    appear (a bare secret key has no pattern to catch it by)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    found: set[str] = set()
    profiles = {spec.main_profile, spec.consumer_profile, spec.analyst_profile, spec.outsider_profile}
    # Every consumer of a `consumers:` list reads or attaches with profiles of its own.
    profiles |= {p for c in getattr(spec, "consumers", ()) for p in (c.consumer_profile, c.analyst_profile)}
    for profile in profiles - {None}:
        try:
            creds = boto3.Session(profile_name=profile).get_credentials()
        except (BotoCoreError, OSError):
            continue  # a profile that cannot load cannot leak either
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            found.update(v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v and len(v) >= 8)
    return frozenset(found)


def _collect_and_redact(output: Path, secrets: frozenset[str] = frozenset()) -> tuple[dict[str, Any], int]:
    """Gather what the notebook record()ed, and scrub anything that looks like a credential."""
    import nbformat

    nb = nbformat.read(output, as_version=4)
    recorded: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIME in data:
                recorded.update(data[RECORD_MIME])
    text, redactions = _redact(nbformat.writes(nb), secrets)
    if redactions:
        atomic_write_text(output, text)
    return recorded, redactions


def _redact(text: str, secrets: frozenset[str] = frozenset()) -> tuple[str, int]:
    total = 0
    for secret in secrets:
        total += text.count(secret)
        text = text.replace(secret, "[REDACTED]")
    for pattern in SECRET_PATTERNS:
        text, n = pattern.subn(lambda m: (m.group(1) + m.group(2) if m.groups() else "") + "[REDACTED]", text)
        total += n
    return text, total


def _write_sidecar(record: RunRecord, secrets: frozenset[str] = frozenset()) -> None:
    text, _ = _redact(json.dumps(asdict(record), indent=2, default=str), secrets)
    atomic_write_text(record.sidecar, text, mode=0o444, exclusive=True)


def _render_html(output: Path, secrets: frozenset[str] = frozenset()) -> Path:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    # An output with both (the grant diagram: diagram.Picture) shows its SVG here: nbconvert
    # would turn the Mermaid Markdown into a script that loads mermaid.js from a CDN, and a
    # record must read offline. JupyterLab keeps preferring the Markdown (its own Mermaid).
    priority = [t for t in HTMLExporter().default_config.NbConvertBase.display_data_priority if t != "image/svg+xml"]
    priority.insert(priority.index("text/markdown"), "image/svg+xml")
    exporter = HTMLExporter(config=Config({"NbConvertBase": {"display_data_priority": priority}}))
    body, _ = exporter.from_filename(str(output))
    html = output.with_suffix(".html")
    atomic_write_text(html, _redact(_offline(body), secrets)[0], mode=0o444, exclusive=True)
    return html


# nbconvert's page loads require.js, MathJax and mermaid.js from cdnjs and the widget renderer
# from unpkg whenever it is opened: an audit record would tell a third party each time someone
# reads it, and read differently offline. The records need none of them (tables carry their own
# bundle, the diagram is an SVG, LaTeX and live widgets are not used), so those scripts go.
_CDN_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_CDN_HOSTS = ("cdnjs.cloudflare.com", "unpkg.com")


def _offline(page: str) -> str:
    return _CDN_SCRIPT.sub(lambda m: "" if any(h in m.group(0) for h in _CDN_HOSTS) else m.group(0), page)


def _git_commit(where: Path) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) if sha else None


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
