"""Writes notebooks/*.ipynb from the cell texts below (outputs empty, kernel xacct-nb).

The notebooks are the reviewed artefact; this script only keeps their structure uniform. Edit
the notebooks in JupyterLab or here, then run `python tools/make_notebooks.py`.
"""

import ast
from pathlib import Path

import nbformat

NB = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = {"name": "xacct-nb", "display_name": "Python (xacct-nb)", "language": "python"}

COMMON_PARAMS = '''params_file: str = "../params/local.yaml"  # the environment's access spec; `xacct-nb run --env ENV` sets it'''

SETUP = '''from xacct_nb import provisioning, sessions
from xacct_nb.notebook import dry_run_line, plan_facts, record, show
from xacct_nb.spec import load_spec

spec = load_spec(params_file)
spec.env, spec.main_account_id, spec.consumer_account_id'''

NOTEBOOKS = {
    "01_main_account_setup": [
        ("md", """# 01 · Main account: the role and one policy per table

In the **main** account (the one that owns the tables) this creates, exactly as the reference
Terraform module names them:

* the role `{env}-ddb_cross_acc_access_role-{consumer_account_id}`, trusted by the consumer account;
* one managed policy `{env}-DynamoDBTableAccess-{consumer_account_id}-{table}` per table, with the
  table's access level (Read, ReadWriteUpdate, Full) on the table **and its indexes**, attached to the role.

It is a dry run unless `confirm` is set to the plan id shown below (or the env name).
Batch: `xacct-nb run 01 --env ENV -p confirm=PLAN_ID`."""),
        ("params", COMMON_PARAMS + '''
confirm: str = ""  # plan id (or env name) to apply; empty means a dry run: nothing changes'''),
        ("code", SETUP),
        ("md", "## Who am I?\nThis must be the main account; the notebook stops otherwise."),
        ("code", '''main = sessions.profile_session(spec.main_profile, spec.region, field="main_profile")
caller = sessions.require_account(main, spec.main_account_id, "main_profile")
caller'''),
        ("md", "## The plan\nRead from the live account; documents are compared order-insensitively."),
        ("code", '''plan = provisioning.plan(spec, main=main, sides=("main",))
plan'''),
        ("md", "## Apply — only when confirmed"),
        ("code", '''result = provisioning.apply(spec, confirm, main=main, sides=("main",), wait=False) if confirm else None
result if result else print(dry_run_line(plan))'''),
        ("md", "## What the main account holds now"),
        ("code", '''state = provisioning.live_state(spec, main=main, sides=("main",))
show(state)'''),
        ("code", '''record(role_arn=spec.role_arn, tables={t.table_name: t.access_type for t in spec.table_access_list},
       main_plan=plan.summary(), main_applied=result is not None, caller_arn=caller.arn,
       **plan_facts(plan, result))'''),
    ],
    "02_consumer_account_setup": [
        ("md", """# 02 · Consumer account: who may assume the role

In the **consumer** account this creates the policy `{env}-AssumeDdbCrossAccRole-{main_account_id}`,
which allows only `sts:AssumeRole` on the main account's role, and attaches it to the
`consumer_principal` (a user or a role). Then it waits until that principal can really assume the
role (IAM is eventually consistent). Dry run unless `confirm` is set."""),
        ("params", COMMON_PARAMS + '''
confirm: str = ""  # plan id (or env name) to apply; empty means a dry run: nothing changes
wait_seconds: int = 120  # how long to wait for IAM until the analyst can assume the role'''),
        ("code", SETUP),
        ("code", '''consumer = sessions.profile_session(spec.consumer_profile, spec.region, field="consumer_profile")
caller = sessions.require_account(consumer, spec.consumer_account_id, "consumer_profile")
caller'''),
        ("code", '''plan = provisioning.plan(spec, consumer=consumer, sides=("consumer",))
plan'''),
        ("code", '''result = (provisioning.apply(spec, confirm, consumer=consumer, sides=("consumer",), wait_timeout=wait_seconds)
          if confirm else None)
result if result else print(dry_run_line(plan))'''),
        ("code", '''show(provisioning.live_state(spec, consumer=consumer, sides=("consumer",)))
record(consumer_policy_arn=spec.consumer_policy_arn, consumer_principal=spec.consumer_principal,
       consumer_plan=plan.summary(), consumer_applied=result is not None,
       assumable=None if result is None else result.assumable, caller_arn=caller.arn,
       **plan_facts(plan, result))'''),
    ],
    "03_assume_and_explore": [
        ("md", """# 03 · Assume the role and explore the remote tables

As the analyst (`analyst_profile`), assume the main account's role with STS — the credentials
refresh themselves before they expire — and read the granted tables as pandas DataFrames.
The panel below is a front end to `xacct_nb.widgets.read(...)`; every cell after it is plain Python."""),
        ("params", COMMON_PARAMS + '''
table: str = ""  # table for the ready-made cells; empty means the first granted table
limit: int = 500  # rows the ready-made cells read at most (a budget, not a page size)
export_dir: str = "../exports"  # where the panel's Export and the export cell write (not runs/)'''),
        ("code", '''from pathlib import Path

from xacct_nb import RemoteTable, describe_all, sessions, to_csv, to_parquet
from xacct_nb.notebook import plot_numeric, record, show, summary
from xacct_nb.spec import load_spec
from xacct_nb.saved_queries import queries_file_for
from xacct_nb.widgets import ExplorerPanel

spec = load_spec(params_file)
remote = sessions.assume_from_spec(spec, wait=60)
sessions.whoami(remote)'''),
        ("md", "## The granted tables"),
        ("code", '''show(describe_all(remote, spec.table_names))'''),
        ("md", """## Explore
Pick a table, Scan or Query (partition key + optional sort-key condition), filter and choose columns, then **Run** (or press Enter in any box). The status line under the button says what ran, and whether the result is complete or partial; the table under it is that Run's result.

- Switching table or index resets the inputs that name attributes the new choice does not have (the status line says which); names the table is not known to have are flagged in orange before you Run.
- While a Run reads, the result area counts items and pages; **Stop** ends it after the page in hand. **Load more** continues a partial result where it stopped, up to *Max rows* more.
- **Show code**: the shown Run as a Python call, a boto3 request, an AWS CLI command and a PartiQL statement, to copy. **Item**: pick a row to see the whole item with its DynamoDB types, as JSON or DynamoDB JSON.
- **History** lists this session's Runs; click one to put its inputs back. `panel.result` is the last result as a DataFrame.
- **PartiQL** mode: one `SELECT … FROM "table"` (or `"table"."index"`) statement, run as the role (AWS authorises it per table); Max rows and Stop apply, Load more does not.
- **Saved**: type a name and **Save** to keep the shown Run's inputs in `params/<env>.queries.yaml` (next to the params; an existing name is never overwritten); pick one under *Saved* to load it.
- **Export** writes the shown result as CSV, Parquet or JSONL to a new file in `export_dir` (outside `runs/`, where the audit records are).

The panel is live: it needs this notebook's running kernel, so batch records and their HTML show no panel (the cells below read the same tables in plain Python)."""),
        ("code", '''panel = ExplorerPanel(remote, list(spec.table_names), limit=limit, session_variable="remote",
                      export_dir=export_dir, queries_file=queries_file_for(params_file))
panel'''),
        ("md", "## Ready-made cells\nA bounded read of one table, its summary statistics, a plot, and exports."),
        ("code", '''name = table or spec.table_names[0]
df = RemoteTable(remote, name).scan(max_items=limit)
print(f"{len(df)} rows from {name}", "(partial: budget reached)" if df.attrs["xacct"]["partial"] else "")
show(df)'''),
        ("code", '''show(summary(df), caption=f"{name}: one row per column", page_length=25)'''),
        ("code", '''plot_numeric(df, title=f"{name}: one histogram per numeric column")'''),
        ("code", '''out = Path(export_dir)
out.mkdir(parents=True, exist_ok=True)
csv_path, parquet_path = to_csv(df, out / f"{name}.csv"), to_parquet(df, out / f"{name}.parquet")
csv_path, parquet_path'''),
        ("code", '''assumed = sessions.whoami(remote).arn
record(assumed_arn=assumed, caller_arn=assumed, rows_read=len(df), table_read=name)'''),
    ],
    "04_verify_access": [
        ("md", """# 04 · Verify access: is reality exactly what the spec says?

For each granted table and each operation class (describe, read, index query, write, delete, admin)
a harmless probe runs as the assumed role; the result is compared with what the access level should
allow. It also checks that ungranted tables are denied, that an outsider account cannot assume the
role and (when set) that the external id is enforced. **The notebook fails if any cell is FAIL.**"""),
        ("params", COMMON_PARAMS),
        ("code", '''from xacct_nb import sessions
from xacct_nb.notebook import record
from xacct_nb.spec import load_spec
from xacct_nb.verify import verify_access

spec = load_spec(params_file)
analyst = sessions.profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
matrix = verify_access(spec)
matrix.styled()'''),
        ("code", '''record(matrix=matrix.summary(), verdict=matrix.headline(), caller_arn=sessions.whoami(analyst).arn)
matrix.assert_ok();  # the matrix is shown above; this only fails the run on a FAIL'''),
    ],
    "05_teardown": [
        ("md", """# 05 · Teardown: remove what xacct-nb created

Plans and (when confirmed) destroys both sides: detaches and deletes the per-table policies and the
consumer policy, then the role. Only resources tagged `managed-by=xacct-nb` are touched; a same-named
resource without the tag is reported and left alone. Dry run unless `confirm` is set."""),
        ("params", COMMON_PARAMS + '''
confirm: str = ""  # plan id (or env name) to destroy; empty means a dry run: nothing changes'''),
        ("code", SETUP),
        ("code", '''main = sessions.profile_session(spec.main_profile, spec.region, field="main_profile")
consumer = sessions.profile_session(spec.consumer_profile, spec.region, field="consumer_profile")
caller = sessions.require_account(main, spec.main_account_id, "main_profile")
consumer_caller = sessions.require_account(consumer, spec.consumer_account_id, "consumer_profile")
plan = provisioning.plan_destroy(spec, main=main, consumer=consumer)
plan'''),
        ("code", '''result = provisioning.destroy(spec, confirm, main=main, consumer=consumer) if confirm else None
result if result else print(dry_run_line(plan))'''),
        ("code", '''record(destroyed=(f"{len(result.done)} change(s), {result.calls} IAM write call(s)" if result
                  else "dry run: nothing deleted"),
       caller_arn=caller.arn, consumer_caller_arn=consumer_caller.arn, **plan_facts(plan, result))'''),
    ],
    "06_large_tables": [
        ("md", """# 06 · Large tables: DynamoDB's own export, read with Dask

A scan reads every item through the table's read capacity and this kernel's single core. For a
whole-table copy of a large or busy table, DynamoDB can **export** it to S3 instead: no read
capacity used, a consistent point-in-time snapshot, billed per GB (see the README's comparison).
The export lands in the **consumer's** bucket named by the spec's `export` section
(`export: {bucket: NAME, prefix: PATH}`, applied by notebooks 01/02), and the analyst reads it
back as a Dask DataFrame — one partition per data file, the same columns and types as `scan`.

Needs: point-in-time recovery on the table (the plan says so when it is off, and what to run).
Starting an export is billed on AWS, so it only happens with `start_export = True`; otherwise
the notebook reads `export_location` (what `xacct-nb export` printed)."""),
        ("params", COMMON_PARAMS + '''
table: str = ""  # table to export; empty means the first granted table
start_export: bool = False  # True: start a new export (billed per GB on AWS) and wait for it
export_location: str = ""  # s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ to read when not starting one'''),
        ("code", '''from dask.diagnostics import ProgressBar

from xacct_nb import read_export, sessions
from xacct_nb.dynamo.export_job import export_url, start_export as begin_export, wait_for_export
from xacct_nb.notebook import record, show
from xacct_nb.spec import load_spec

spec = load_spec(params_file)
name = table or spec.table_names[0]
role = sessions.assume_from_spec(spec, wait=60)
analyst = sessions.profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
spec.export'''),
        ("md", "## Start the export and follow it\nOne status line per poll; a failed export stops here with the reason and the fix."),
        ("code", '''if start_export:
    started = begin_export(role, spec, name)
    described = wait_for_export(role, started["ExportArn"], progress=print)
    export_location = export_url(described)
export_location or print("no export to read: set start_export = True or export_location")'''),
        ("md", "## Read it with Dask\nThe manifests and the first data file are read now; the rest when computed. Every file's MD5 is checked against the manifest."),
        ("code", '''ddf = read_export(analyst, export_location, engine="dask") if export_location else None
(ddf.npartitions, list(ddf.dtypes.astype(str).items())[:8]) if ddf is not None else None'''),
        ("code", '''if ddf is not None:
    with ProgressBar():
        df = ddf.compute()
    show(df.head(20))'''),
        ("code", '''record(table=name, export_location=export_location,
       partitions=ddf.npartitions if ddf is not None else 0,
       rows_read=len(df) if ddf is not None else 0)'''),
    ],
}


# Parameters that are paths: their defaults are relative to notebooks/ (see check_parameters).
PATH_PARAMETERS = ("params_file", "export_dir")


def check_cell(notebook: str, parameters: str) -> str:
    """The cell right after `parameters` (papermill injects its cell between the two): checks
    the injected names and every value's type against the annotations of the parameters cell."""
    declared = {node.target.id: ast.unparse(node.annotation)
                for node in ast.parse(parameters).body if isinstance(node, ast.AnnAssign)}
    paths = tuple(name for name in PATH_PARAMETERS if name in declared)
    return ("from xacct_nb.notebook import check_parameters\n\n"
            f"check_parameters({notebook!r}, {declared!r}, paths={paths!r})")


def build(name, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            nb.cells.append(cell)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
                nb.cells.append(nbformat.v4.new_code_cell(check_cell(f"{name}.ipynb", text)))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:02d}"  # stable ids keep diffs small
    return nb


if __name__ == "__main__":
    NB.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), NB / f"{name}.ipynb")
        print("wrote", NB / f"{name}.ipynb")
