"""`xacct-nb` — one entry point, thin subcommands over the library.

Exit codes: 0 success; 1 an AWS failure (or a verification FAIL); 2 refused or invalid input
(nothing was changed); 3 `run-all` stopped after dry runs because nothing was confirmed.
Errors are one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import InputError, XacctError
from .grammar import parse_assignments, parse_filters, parse_key, parse_projection, parse_sort
from .progress import ProgressEvent

if TYPE_CHECKING:
    import boto3

    from .spec import AccessSpec

CLI_PROGRESS_EVERY = 10  # pages between two progress lines when stderr is not a terminal

EXIT_CONFIRM = 3  # run-all: dry runs done, changes wait for confirm (documented in docs/cli.md)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import DEFAULT_COUNTS, PROFILES, Sandbox

    counts = {**DEFAULT_COUNTS, "orders": args.orders}
    sb = Sandbox(port=args.port, state_dir=args.dir, counts=counts, enforce=not args.no_enforce,
                 iam_delay=args.iam_delay)
    sb.start()
    try:
        print(f"sandbox: moto on {sb.endpoint_url}, IAM enforcement "
              f"{'off' if args.no_enforce else 'on'}, IAM changes delayed {sb.iam_delay:g} s; "
              f"state in {sb.state_dir}")
        for profile, (account, user) in PROFILES.items():
            print(f"  profile {profile:<18} account {sb.accounts[account]}  user {user}")
        print("Point boto3 / the AWS CLI / notebooks at it with:")
        print(sb.export_lines())
        print("Ctrl-C stops it (its state is in memory and goes with it).", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nsandbox stopped")
    finally:
        sb.stop()
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    from .sessions import analyst_identity, assume_from_spec, profile_session, whoami

    if args.params is None:
        if args.assume:
            raise InputError("--assume needs --params (the role ARN comes from the params file)")
        print(whoami(profile_session(args.profile, field="--profile")))
        return 0
    from .spec import load_spec

    spec = load_spec(args.params)
    analyst = profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    print(f"analyst: {analyst_identity(spec, analyst)}")
    if args.assume and spec.uses_resource_policy:
        print("role:    none — grant_mode resource_policy: reads use the analyst's own session")
    elif args.assume:
        role = assume_from_spec(spec, source=analyst, progress=lambda msg: print(msg, file=sys.stderr))
        print(f"role:    {whoami(role)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .runbook import run_notebook

    record = run_notebook(args.notebook, args.env, parse_assignments(args.param), html=args.html,
                          runs_dir=args.runs_dir, yes=args.yes, log=print)  # prints the run's summary
    return 0 if record.ok else 1


def cmd_run_all(args: argparse.Namespace) -> int:
    from .runbook import run_all

    records = run_all(args.env, parse_assignments(args.param), html=args.html,
                      runs_dir=args.runs_dir, yes=args.yes, log=print)
    if not all(r.ok for r in records):
        return 1
    pending = [r for r in records if r.pending]
    if pending:
        steps = "; ".join(f"xacct-nb run {r.notebook[:2]} --env {args.env} -p confirm={r.recorded['plan_id']}"
                          for r in pending)
        print(f"stopped after the dry runs: nothing was applied, so the next notebooks would only wait "
              f"for access that does not exist yet — review the plans above, apply each: {steps}; "
              f"then: xacct-nb run-all --env {args.env}")
        return EXIT_CONFIRM
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from .cli_support import lab_command, lab_workspace, run_lab, sandbox_env

    env = dict(os.environ)
    if args.sandbox:
        env.update(sandbox_env(args.dir))
    folder = lab_workspace(args.notebooks, refresh=args.refresh)
    return run_lab(lab_command(str(folder), args.jupyter_args), env)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(runs_dir=args.runs_dir)


def _params_path(args: argparse.Namespace) -> str:
    """--params FILE, or --env ENV meaning params/ENV.yaml (scan and query take either)."""
    if getattr(args, "env", None):
        from .runbook import params_file

        return str(params_file(args.env))
    return str(args.params)


def _spec_from_params(args: argparse.Namespace) -> AccessSpec:
    from .spec import load_spec

    return load_spec(_params_path(args), parse_assignments(args.param))


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout carries only the plan/result table


def cmd_plan(args: argparse.Namespace) -> int:
    from .cli_support import side_confirm_lines
    from .provisioning import plan, plan_destroy

    spec = _spec_from_params(args)
    shown = (plan_destroy if args.destroy else plan)(spec)
    if args.diagram:  # Mermaid only, so the output can be piped into a renderer
        from .diagram import diagram

        print(diagram(shown))
        return 0
    print(shown.text())
    if shown.has_changes and not args.destroy:
        for line in side_confirm_lines(shown):
            print(line)
    return 0


def _confirmed_id(args: argparse.Namespace, shown: Any) -> str | None:
    """The plan id this run confirms: --confirm's (the plan reviewed in an earlier dry run: a
    plan that changed since is refused by apply/destroy), --yes's (the plan just computed:
    automation), or None (a dry run)."""
    if args.confirm is not None and args.yes:
        raise InputError("--confirm and --yes: give one — --confirm PLAN_ID applies the plan you reviewed, "
                         "--yes the plan computed now (automation)")
    if args.confirm is not None:
        return str(args.confirm)
    return shown.id if args.yes else None


def cmd_apply(args: argparse.Namespace) -> int:
    from .provisioning import apply, plan

    spec = _spec_from_params(args)
    shown = plan(spec)
    confirm = _confirmed_id(args, shown)
    # When changes are made the result lists them, so the plan shows only its headline.
    print(shown.headline() if confirm and shown.has_changes else shown.text())
    if confirm is None and shown.has_changes:
        print(f"dry run: nothing changed; to apply exactly this plan: --confirm {shown.id} "
              "(a plan that changed meanwhile is refused)")
        return 0
    # A stale --confirm id is refused by apply, naming the new plan's id (exit 2).
    result = apply(spec, confirm=confirm or shown.id, wait=not args.no_wait, progress=_progress)
    print(result.text())
    return 1 if result.assumable is False else 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from .provisioning import destroy, plan_destroy

    spec = _spec_from_params(args)
    shown = plan_destroy(spec)
    confirm = _confirmed_id(args, shown)
    print(shown.text())
    if confirm is None and shown.has_changes:
        print(f"dry run: nothing changed; to destroy exactly this plan: --confirm {shown.id} "
              "(a plan that changed meanwhile is refused)")
        return 0
    print(destroy(spec, confirm=confirm or shown.id).text())
    return 0


def cmd_export_terraform(args: argparse.Namespace) -> int:
    from .terraform import write_terraform

    spec = _spec_from_params(args)
    keys = _kms_keys(spec) if args.side != "consumer" else {}
    path = write_terraform(spec, args.out or f"{spec.env}-xacct-nb.tf.json", side=args.side, kms_keys=keys)
    print(f"wrote {path} ({args.side} side{'s' if args.side == 'both' else ''} of env {spec.env})")
    return 0


def _kms_keys(spec) -> dict[str, str]:
    """The granted tables' customer-managed keys, read with main_profile (stderr says when not)."""
    from .kms import read_table_keys
    from .sessions import profile_session, require_account

    if not spec.main_profile:
        _progress("main_profile is not set: tables were not checked for customer-managed KMS keys, so "
                  "the export grants no kms:Decrypt — set main_profile to include them")
        return {}
    main = profile_session(spec.main_profile, spec.region, field="main_profile")
    require_account(main, spec.main_account_id, "main_profile")
    keys = read_table_keys(spec, main)
    for key in keys.values():
        if not key.admits_role:
            _progress(f"attention: table {key.table}: {key.via}")
    return {table: key.key_arn for table, key in keys.items()}


def cmd_scan(args: argparse.Namespace) -> int:
    return _read_table(args, "scan")


def cmd_query(args: argparse.Namespace) -> int:
    if args.saved is not None:
        return _run_saved(args)
    for flag, value in (("--table", args.table), ("--key", args.key), ("--out", args.out)):
        if value is None:
            raise InputError(f"query needs {flag} (or --saved NAME to run a query saved in the panel)")
    return _read_table(args, "query")


# The read flags a saved query sets itself: given with --saved they would silently lose to it,
# or silently change what the operator reviewed in the panel — refused instead.
SAVED_QUERY_SETS = ("table", "index", "key", "sort", "filter", "projection", "limit", "max_rcu")


def _run_saved(args: argparse.Namespace) -> int:
    """`query --saved NAME`: the panel's saved query, loaded, checked and run as the panel runs
    it; its status line on stderr, the frame on stdout (or --out, written atomically)."""
    from .saved_queries import queries_file_for, run_saved, saved_query
    from .sessions import reading_session

    given = [f"--{name.replace('_', '-')}" for name in SAVED_QUERY_SETS if getattr(args, name) is not None]
    if given:
        raise InputError(f"--saved {args.saved}: {', '.join(given)} cannot be combined with --saved (the saved "
                         "query sets table, index, key, sort, filter, columns and limit) — drop "
                         f"{'it' if len(given) == 1 else 'them'}, or save another query in the panel")
    if args.out is not None:
        check_out_path(args.out)
    params = _params_path(args)
    # the consumer whose grant the read goes through (with a consumers: list; else the spec)
    spec = _spec_from_params(args).consumer_spec(args.consumer, "--consumer")
    saved_query(queries_file_for(params), args.saved, spec.table_names)  # refused before any AWS call
    done = run_saved(reading_session(spec), spec, queries_file_for(params), args.saved,
                     progress=_page_lines)
    if args.out is not None:
        from .dynamo import write_frame

        write_frame(done.frame, args.out)  # atomic: a temporary file renamed into place
        _progress(f"{done.status} → {args.out}")
        return 0
    _progress(done.status)
    with pd_display_options():
        print(done.frame.to_string(index=False) if len(done.frame.columns) else "(no items)")
    return 0


def pd_display_options() -> Any:
    """pandas prints every row and column of the frame, each cell whole (the budget bounds it)."""
    import pandas as pd

    return pd.option_context("display.max_rows", None, "display.max_columns", None,
                             "display.width", None, "display.max_colwidth", None)


def _page_lines(event: ProgressEvent) -> None:
    if event.stats.get("pages", 0) % CLI_PROGRESS_EVERY == 0:
        _progress(str(event))


def _read_table(args: argparse.Namespace, mode: str) -> int:
    from .sessions import reading_session

    # The consumer whose grant the read goes through (its tables, its read names, its analyst).
    spec = _spec_from_params(args).consumer_spec(args.consumer, "--consumer")
    request = read_request(mode, args, granted=spec.table_names)  # checked before any AWS call
    # grant_mode resource_policy: the analyst's own session, the table named by its ARN.
    request["table"] = spec.read_name(request["table"])
    if getattr(args, "dask", None):
        from .cli_dask import scan_to_dataset

        _progress(scan_to_dataset(reading_session(spec), request, args.dask,
                                  credentials=args.worker_credentials))
        return 0
    _progress(read_to_file(reading_session(spec), request))
    return 0


def read_request(mode: str, args: argparse.Namespace, granted: Sequence[str]) -> dict[str, Any]:
    """The command line as :meth:`RemoteTable.scan`/``query`` arguments, checked before any AWS
    call. Key and sort values stay text: the table types them by its key schema."""
    if args.table not in granted:
        raise InputError(f"--table {args.table}: not in the spec's table list — granted tables: "
                         f"{', '.join(granted) or 'none'}")
    check_out_path(args.out, folder=bool(getattr(args, "dask", None)))
    if getattr(args, "dask", None):
        from .cli_dask import check_dask_arguments

        check_dask_arguments(args.dask, args.limit, args.max_rcu, args.out)
    from .dynamo.read_options import MAX_SEGMENTS

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be a whole number ≥ 1, not {args.limit}")
    if mode == "scan" and not 1 <= args.segments <= MAX_SEGMENTS:
        raise InputError(f"--segments must be a whole number from 1 to {MAX_SEGMENTS}, not {args.segments}")
    if args.max_rcu is not None and args.max_rcu <= 0:
        raise InputError(f"--max-rcu must be a number > 0, not {args.max_rcu:g}")
    read: dict[str, Any] = {"index": args.index, "max_items": args.limit, "max_rcu": args.max_rcu}
    if args.filter:
        read["filter"] = parse_filters(args.filter, field="--filter")
    if args.projection:
        read["projection"] = parse_projection(args.projection)
    if mode == "scan":
        read.update(segments=args.segments, allow_full_scan=args.all)
    else:
        read["partition_value"] = parse_key(args.key, field="--key")
        if args.sort:
            read["sort"] = parse_sort(args.sort, field="--sort")
    return {"mode": mode, "table": args.table, "out": args.out, "read": read}


def check_out_path(out: str, *, folder: bool = False) -> None:
    """`--out` is checked before the read starts, so a typo costs nothing: the folder it goes in
    must exist and be writable, and a file must end in a known format (with --dask, `out` is
    itself a new folder). A separate check from the writing, which happens after the read."""
    from pathlib import Path

    from .dynamo.writers import EXPORT_FORMATS

    target = Path(out)
    parent = target.parent
    if not parent.exists():
        raise InputError(f"--out {out}: folder {parent} does not exist — create it first, or write "
                         "somewhere else")
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is not a folder — write into a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: folder {parent} is not writable — write somewhere else")
    if folder:
        return
    if target.is_dir():
        raise InputError(f"--out {out}: is a folder — name a file in it, e.g. {target / 'rows.csv'}")
    if target.suffix.lower() not in EXPORT_FORMATS:
        shown = f"'{target.suffix}'" if target.suffix else "no extension"
        raise InputError(f"--out {out}: unknown format ({shown}) — end the file name in "
                         f"{', '.join(EXPORT_FORMATS)}")


def read_to_file(session: boto3.Session, request: dict[str, Any]) -> str:
    """Read as `request` says, write the file, and return the one-line summary."""
    from .dynamo import RemoteTable, write_frame
    from .dynamo.parquet import read_stats, write_parquet
    from .dynamo.read_options import ProjectionWarning

    mode, table, out = request["mode"], request["table"], request["out"]
    remote = RemoteTable(session, table, progress=_read_progress())
    read = dict(request["read"])
    partition_value = read.pop("partition_value", None)
    with warnings.catch_warnings():  # a ProjectionWarning: the summary line says it
        warnings.simplefilter("ignore", ProjectionWarning)
        if out.lower().endswith(".parquet"):  # typed columns: nested stays nested (to_arrow)
            arrow = remote.to_arrow(mode, partition_value, **read)
            write_parquet(arrow, out)
            meta, rows = read_stats(arrow), arrow.num_rows
        else:
            df = remote.scan(**read) if mode == "scan" else remote.query(partition_value, **read)
            write_frame(df, out)
            meta, rows = df.attrs["xacct"], len(df)
    where = table + (f" index {meta['index']}" if meta["index"] else "")
    state = f"partial ({meta['reason']})" if meta["partial"] else "complete"
    missing = meta.get("projection_missing") or []
    unreturned = (f"; no item returned --projection {', '.join(missing)} (a name with . [ or "
                  "spaces goes in double quotes)") if missing else ""
    return (f"{mode} {where}: {rows:,} rows, {meta['pages']} pages, "
            f"{meta['consumed_rcu']:g} RCU, {meta['seconds']:.1f} s, {state} → {out}{unreturned}")


def _read_progress() -> bool | Any:
    from .dynamo.reader import QUIET_ENV

    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    if sys.stderr.isatty():
        return True  # a tqdm bar

    def line(event: ProgressEvent) -> None:
        if event.stats["pages"] % CLI_PROGRESS_EVERY == 0:
            _progress(event)

    return line


def cmd_export(args: argparse.Namespace) -> int:
    """Start a DynamoDB export of a granted table into the spec's bucket; --wait follows it."""
    from .dynamo.export_job import export_url, parse_time, start_export, wait_for_export
    from .sessions import assume_from_spec

    spec = _spec_from_params(args)
    since = parse_time(args.incremental_since, "--incremental-since") if args.incremental_since else None
    until = parse_time(args.until, "--until") if args.until else None
    role = assume_from_spec(spec)
    described = start_export(role, spec, args.table, since=since, until=until)
    if args.wait:
        described = wait_for_export(role, described["ExportArn"], progress=_progress)
    print(f"export ARN: {described['ExportArn']}")
    print(f"status: {described['ExportStatus']}")
    print(f"location: {export_url(described)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify_access

    matrix = verify_access(_spec_from_params(args), progress=_progress)
    print(matrix.text())
    return 0 if matrix.ok else 1  # a FAIL is reality differing from the spec: exit 1


def _params_arguments(p: argparse.ArgumentParser, *, env: bool = False) -> None:
    if env:
        spec = p.add_mutually_exclusive_group(required=True)
        spec.add_argument("--params", metavar="FILE", help="the access spec, e.g. params/dev.yaml")
        spec.add_argument("--env", help="environment: uses params/ENV.yaml (instead of --params)")
    else:
        p.add_argument("--params", required=True, metavar="FILE", help="the access spec, e.g. params/dev.yaml")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="override a top-level key of the params file")


def build_parser() -> argparse.ArgumentParser:
    from .sandbox_location import DEFAULT_DIR, DEFAULT_PORT

    parser = argparse.ArgumentParser(
        prog="xacct-nb",
        description="Grant one AWS account precise access to another's DynamoDB tables, then read them.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks (with AWS's own error as the cause) and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("sandbox", help="run the local three-account AWS sandbox (moto) until Ctrl-C")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT})")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"folder for config/credentials (default {DEFAULT_DIR})")
    p.add_argument("--orders", type=int, default=2000, help="items seeded into the orders table")
    p.add_argument("--no-enforce", action="store_true", help="leave IAM enforcement off (debugging only)")
    p.add_argument("--iam-delay", type=float, default=0.0, metavar="SECONDS",
                   help="IAM changes take effect for authorisation SECONDS later, as on AWS (default 0)")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("whoami", help="show the account/ARN of a profile, or of the params' analyst and role")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--profile", help="an AWS profile name")
    who.add_argument("--params", metavar="FILE",
                     help="params file: its analyst_profile (checked against the consumer account)")
    p.add_argument("--assume", action="store_true", help="with --params: also assume the role and show it")
    p.set_defaults(func=cmd_whoami)

    p = sub.add_parser("run", help="run one runbook notebook with papermill, leaving a record in runs/ENV/")
    p.add_argument("notebook", help="01..06, a notebook name, or a path")
    p.add_argument("--env", required=True, help="environment: uses params/ENV.yaml")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="override a notebook parameter (checked against its parameters cell)")
    p.add_argument("--html", action="store_true", help="also write an HTML rendering of the record")
    p.add_argument("--runs-dir", default="runs", help="where records go (default runs/)")
    p.add_argument("--yes", action="store_true",
                   help="automation only: confirm the plan the runner computes just before the notebook "
                        "runs (01, 02, 05), unreviewed — people pass -p confirm=PLAN_ID")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("run-all", help="run notebooks 01→04 in order, stopping at the first failure")
    p.add_argument("--env", required=True, help="environment: uses params/ENV.yaml")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="override a parameter in every notebook that declares it")
    p.add_argument("--html", action="store_true", help="also write HTML renderings")
    p.add_argument("--runs-dir", default="runs", help="where records go (default runs/)")
    p.add_argument("--yes", action="store_true",
                   help="automation only: confirm each plan notebook's plan as computed just before it "
                        "runs, unreviewed")
    p.set_defaults(func=cmd_run_all)

    p = sub.add_parser("lab", help="open JupyterLab on your working copies of the notebooks "
                                    "(workspace/USER/, git-ignored)")
    p.add_argument("--sandbox", action="store_true", help="point it at the running sandbox's profiles")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"the sandbox's folder (default {DEFAULT_DIR})")
    p.add_argument("--notebooks", default="notebooks",
                   help="the tracked notebooks the working copies come from (default notebooks/)")
    p.add_argument("--refresh", action="store_true",
                   help="replace your working copies with the committed notebooks (discards your changes)")
    p.epilog = ("Other options go to Jupyter unchanged, e.g. --no-browser --port 8890 --ip 0.0.0.0 "
                "(--allow-root is added when running as root). SIGTERM, SIGHUP and Ctrl-C stop "
                "JupyterLab and its kernels.")
    p.set_defaults(func=cmd_lab, jupyter_args=[])

    p = sub.add_parser("demo", help="the whole job on a fresh local sandbox: notebooks 01→05 via papermill")
    p.add_argument("--runs-dir", default="runs", help="where records go (default runs/)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("plan", help="show what apply (or --destroy) would change in both accounts")
    _params_arguments(p)
    p.add_argument("--destroy", action="store_true", help="plan a destroy instead")
    p.add_argument("--diagram", action="store_true",
                   help="print the grant as a Mermaid flowchart (changes of the plan highlighted)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("apply", help="create/update the role, table policies and consumer policy "
                                      "(dry run without --confirm PLAN_ID or --yes)")
    _params_arguments(p)
    p.add_argument("--confirm", metavar="PLAN_ID",
                   help="apply the plan with this id (from the dry run you reviewed); refused if it changed")
    p.add_argument("--yes", action="store_true", help="automation: apply the plan computed now, unreviewed")
    p.add_argument("--no-wait", action="store_true", help="do not wait until the analyst can assume the role")
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("destroy", help="delete what xacct-nb created for the env (dry run without "
                                        "--confirm PLAN_ID or --yes)")
    _params_arguments(p)
    p.add_argument("--confirm", metavar="PLAN_ID",
                   help="destroy the plan with this id (from the dry run you reviewed); refused if it changed")
    p.add_argument("--yes", action="store_true", help="automation: destroy the plan computed now, unreviewed")
    p.set_defaults(func=cmd_destroy)

    p = sub.add_parser("export-terraform", help="write the same IAM resources as Terraform JSON (*.tf.json)")
    _params_arguments(p)
    p.add_argument("--side", choices=("main", "consumer", "both"), default="both", help="which account's resources")
    p.add_argument("--out", metavar="FILE", help="output file (default ENV-xacct-nb.tf.json)")
    p.set_defaults(func=cmd_export_terraform)

    for name, func in (("scan", cmd_scan), ("query", cmd_query)):
        p = sub.add_parser(name, help=f"{name} a granted table as the analyst (assumes the role) "
                           "into a .csv/.parquet/.jsonl file; one summary line on stderr")
        _params_arguments(p, env=True)
        p.add_argument("--table", required=name == "scan", help="a table of the spec's table_access_list")
        p.add_argument("--consumer", metavar="PROFILE",
                       help="with a consumers: list, read as the consumer whose analyst_profile this is "
                            "(default: the first consumer)")
        p.add_argument("--index", help="read this GSI/LSI instead of the table")
        if name == "query":
            p.add_argument("--saved", metavar="NAME",
                           help="run the query saved as NAME in the explorer panel (params/ENV.queries.yaml)"
                                " as the panel runs it: its status line on stderr, the rows on stdout or --out")
            p.add_argument("--key", metavar="NAME=VALUE",
                           help="the partition key value (typed by the key: 007 stays text for a string key)")
            p.add_argument("--sort", metavar="'OP VALUE'",
                           help="sort-key condition: '= V', '< V', '<= V', '> V', '>= V', '^= PREFIX' "
                                "(begins_with), 'between A and B' (OP:VALUE works too)")
        p.add_argument("--filter", action="append", metavar="CONDITION",
                       help="AND-ed conditions: NAME=VALUE, NAME!=V, <, <=, >, >=, ^= (begins_with), "
                            "~= (contains), 'NAME between A and B', 'NAME exists'; comma-separated "
                            "or repeated; quote text that looks like a number: NAME='42'")
        p.add_argument("--projection", metavar="ATTRS", help="only these attributes (comma-separated paths)")
        p.add_argument("--limit", type=int, help="stop after N rows")
        p.add_argument("--max-rcu", type=float, help="stop once this much read capacity is used")
        if name == "scan":
            p.add_argument("--segments", type=int, default=1, help="parallel scan threads (default 1)")
            p.add_argument("--all", action="store_true",
                           help="allow a full scan of a table of more than 10,000 items")
            p.add_argument("--dask", nargs="?", const="local", metavar="local|tcp://HOST:PORT",
                           help="read the segments as Dask tasks (a LocalCluster, or that scheduler) "
                                "into a partitioned Parquet dataset: --out names a new folder")
            p.add_argument("--worker-credentials", choices=("recipe", "frozen"), default="recipe",
                           help="with --dask: workers assume the role from the profile (recipe, "
                                "default) or get the current short-lived keys (frozen)")
        p.add_argument("--out", required=name == "scan", metavar="FILE",
                       help="FILE.csv, FILE.parquet or FILE.jsonl (with --dask: a new folder)")
        p.set_defaults(func=func)

    p = sub.add_parser("export", help="export a granted table to the spec's S3 bucket (DynamoDB's "
                       "ExportTableToPointInTime, as the role); prints the export ARN and location")
    _params_arguments(p)
    p.add_argument("--table", required=True, help="a table of the spec's table_access_list")
    p.add_argument("--incremental-since", metavar="TIME",
                   help="an incremental export (changes) from TIME, ISO 8601 (UTC without a zone)")
    p.add_argument("--until", metavar="TIME", help="end of the incremental window (default now; 15 min to 24 h)")
    p.add_argument("--wait", action="store_true", help="follow the export until it completes")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="probe (harmlessly) what the role can and cannot do; exit 1 on any FAIL")
    _params_arguments(p)
    p.set_defaults(func=cmd_verify)
    return parser


class _ClosedPipeSafe:
    """stdout that keeps the command running when its reader goes away (`… | head -2`): the
    first BrokenPipeError points the descriptor at /dev/null and later output is dropped, so a
    destroy that has started finishes, and no traceback is printed at exit."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return int(self._stream.write(text))
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.reader_gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # the interpreter's final flush finds no pipe
            os.close(devnull)
        except (OSError, ValueError):  # no real descriptor (a test's StringIO): nothing to redirect
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    stdout = sys.stdout
    sys.stdout = _ClosedPipeSafe(stdout)
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    finally:
        sys.stdout = stdout


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.jupyter_args = unknown  # `lab` passes Jupyter's own options through
    if args.debug:
        import logging

        logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("xacct_nb").setLevel(logging.DEBUG)
    try:
        return int(args.func(args) or 0)
    except XacctError as err:
        if args.debug:
            raise
        print(f"xacct-nb: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("xacct-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
