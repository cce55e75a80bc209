"""The explorer panel of notebook 03: pick a granted table, scan or query it, see a paginated table.

Every widget action is also a plain function call: the Run button calls `ExplorerPanel.run()`,
which calls `read(...)` — the same function batch runs and tests call directly.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .dynamo import KeySchema, RemoteTable, TableInfo
from .dynamo.read_options import ProjectionWarning, ReadOptions, report_projection
from .dynamo.table import collect_frame
from .errors import InputError, XacctError
from .grammar import AttributePath, parse_filters, parse_key, parse_projection, show_path
from .progress import ProgressCallback, ProgressEvent

SORT_OPS = ("", "=", "<", "<=", ">", ">=", "between", "begins_with")
# Scoped to the panel. ToggleButtons put their description on a line of its own (its label is an
# inline element, the buttons a block); wide results get one line per row with a horizontal
# scrollbar instead of nested maps/lists wrapped into towers of one word per line.
_PANEL_CSS = """<style>
.xacct-explorer .widget-toggle-buttons { display: flex; align-items: baseline; }
.xacct-explorer .widget-toggle-buttons > .widget-label {
  flex: 0 0 auto; text-align: right; margin-right: calc(var(--jp-widgets-inline-margin) * 2); }
.xacct-explorer .widget-output { overflow-x: auto; max-width: 100%; }
.xacct-explorer .xacct-result.xacct-stale { opacity: 0.45; }
.xacct-explorer .xacct-code-text textarea { font-family: var(--jp-code-font-family); white-space: pre; }
.xacct-explorer table.dataTable th,
.xacct-explorer table.dataTable td { white-space: nowrap; }
.xacct-explorer table.dataTable td { max-width: 24em; overflow: hidden; text-overflow: ellipsis; }
</style>"""
ITEM_PICK_ROWS = 1000  # rows the Item list offers (a longer list is slow to open)
RESULT_PAGE_LENGTH = 10  # one of itables' page-length choices (10/25/50/100), so its menu shows it



def read(session, table: str | RemoteTable, *, mode: str = "scan", index: str | None = None, key: Any = None,
         sort: tuple | None = None, filter: dict | None = None, projection: list[AttributePath] | None = None,
         limit: int = 100, start_key: Any = None, page_size: int | None = None,
         progress: ProgressCallback | None = None, stop: threading.Event | None = None) -> pd.DataFrame:
    """One read as the panel does it: a query when mode is 'query', else a bounded scan.
    `table` is a name, or a RemoteTable to reuse (its clients and cached description).

    `start_key` continues a partial read (its ``attrs["xacct"]["last_evaluated_key"]``);
    `progress` gets a :class:`~xacct_nb.progress.ProgressEvent` after every page; when `stop` is
    set the read ends after the page in hand — a partial result with its resume key, never a
    page lost (the reader keeps the page's items, then stops before asking for the next)."""
    if mode not in ("scan", "query"):
        raise InputError(f"mode {mode!r} is neither 'scan' nor 'query' — pick one")
    remote = table if isinstance(table, RemoteTable) else RemoteTable(session, table)
    options = ReadOptions(index=index or None, filter=filter or None, projection=projection or None,
                          max_items=limit or None, start_key=start_key, page_size=page_size)
    if mode == "query":
        if key in (None, ""):
            raise InputError("query needs a partition key value — type one in the Key box")
        reader = remote.open_read(options, "query", key, sort)
    else:
        reader = remote.open_read(options, "scan")

    def on_page(event: ProgressEvent) -> None:
        if progress is not None:
            progress(event)
        if stop is not None and stop.is_set():
            reader.reason = "stopped"  # checked by the reader right after this page is handed over

    reader.progress = on_page
    # converted as RemoteTable.scan/query convert; a projected column nothing returned is said
    return report_projection(collect_frame(reader, options), options.projection)


def read_partiql(remote_for: Callable[[str], RemoteTable], statement: str, *, limit: int = 100,
                 progress: ProgressCallback | None = None,
                 stop: threading.Event | None = None) -> pd.DataFrame:
    """One PartiQL SELECT as the role (ExecuteStatement, page by page with NextToken; AWS
    authorises it per table/index). Stops at `limit` rows or when `stop` is set between pages:
    then the frame is marked partial. `remote_for(table)` gives the RemoteTable of its table."""
    from .dynamo.to_pandas import items_to_frame
    from .partiql import Malformed, target

    refused = InputError('PartiQL: the panel runs one SELECT … FROM "table" (or "table"."index") '
                         "— write a SELECT statement")
    try:
        aimed = target(statement)
    except Malformed as err:
        raise refused from err
    if aimed[0] != "PartiQLSelect" or ";" in statement.strip().rstrip(";"):
        raise refused
    _, table, index = aimed
    remote = remote_for(table)
    if remote.name.startswith("arn:"):
        # resource_policy mode reads by ARN with the caller's own session: a statement naming the
        # bare table would run in the caller's account (another table of that name, or none), and
        # AWS serves PartiQL only in the table's own account
        raise InputError(f"PartiQL on {table}: not available through a resource policy (AWS runs "
                         "PartiQL only in the table's own account) — use Scan or Query, or grant_mode: role")
    info = remote.describe()
    key_names = list(dict.fromkeys([*info.key_for(index).names, *info.key.names]))
    started = time.perf_counter()
    request: dict[str, Any] = {"Statement": statement.strip().rstrip(";"), "ReturnConsumedCapacity": "TOTAL"}
    items: list[dict] = []
    pages, rcu, reason = 0, 0.0, None
    reported = False  # a reply without ConsumedCapacity: the cost is unknown, not 0

    def stats() -> dict[str, Any]:
        return {"operation": "ExecuteStatement", "table": table, "index": index,
                "partial": reason is not None, "reason": reason, "pages": pages, "items": len(items),
                "consumed_rcu": rcu if reported else None,
                "seconds": round(time.perf_counter() - started, 3),
                "last_evaluated_key": None}

    while True:
        page = remote.call("ExecuteStatement", **request)
        pages += 1
        items += page.get("Items") or []
        if "ConsumedCapacity" in page:
            reported = True
            rcu += float(page["ConsumedCapacity"].get("CapacityUnits", 0))
        if progress is not None:
            progress(ProgressEvent(f"partiql {table}: {pages} pages, {len(items)} items", stats()))
        token = page.get("NextToken")
        if len(items) >= limit:
            if len(items) > limit or token:
                reason = "max_items"
            items = items[:limit]
            break
        if not token:
            break
        if stop is not None and stop.is_set():
            reason = "stopped"
            break
        request["NextToken"] = token
    df = items_to_frame(items, key_names=key_names)
    df.attrs["xacct"] = stats()
    return df


def read_args(inputs: RunInputs, info: TableInfo) -> dict[str, Any]:
    """A Run's inputs parsed by the shared grammar into read()'s arguments (key and sort values
    stay text: the table types them by its key schema)."""
    key_types = {name: info.key_for(ix).type_of(name) for ix in (None, *info.index_names)
                 for name in info.key_for(ix).names}
    return {"mode": inputs.mode, "index": inputs.index or None,
            "key": parse_key(inputs.key, field="Key") if inputs.key.strip() else None,
            "sort": inputs.sort_condition(),
            "filter": parse_filters(inputs.filter, key_types, field="Filter"),
            "projection": parse_projection(inputs.projection), "limit": inputs.limit}


def run_inputs(remote_for: Callable[[str], RemoteTable], inputs: RunInputs, *, page_size: int | None = None,
               progress: ProgressCallback | None = None, stop: threading.Event | None = None,
               args_out: dict[str, Any] | None = None) -> pd.DataFrame:
    """One Run of `inputs`, as the panel's Run button does it (and `xacct-nb query --saved`):
    PartiQL mode runs its SELECT, scan and query go through `read`. `remote_for(table)` gives the
    RemoteTable of a table; `args_out` receives what went to the read (history, Load more)."""
    args = args_out if args_out is not None else {}
    if inputs.mode == "partiql":
        args.update(mode="partiql", statement=inputs.statement, limit=inputs.limit)
        return read_partiql(remote_for, inputs.statement, limit=inputs.limit, progress=progress, stop=stop)
    remote = remote_for(inputs.table)
    args.update(read_args(inputs, remote.describe()))
    with warnings.catch_warnings():  # the status line says it (ProjectionWarning)
        warnings.simplefilter("ignore", ProjectionWarning)
        return read(remote.session, remote, **args, page_size=page_size, progress=progress, stop=stop)


def status_html(df: pd.DataFrame, inputs: RunInputs, unknown: Mapping[str, list[str]] | None = None, *,
                resume_hint: str = "; <b>Load more</b> continues it") -> str:
    """The status line of a Run's result: rows × columns, what ran, pages, RCU, seconds, complete
    or partial (and why), attribute names not seen on the table, projected columns never returned.
    `status_text` is the same line without markup (the CLI prints it)."""
    meta = df.attrs.get("xacct", {})
    reason = "stopped" if meta.get("reason") == "stopped" else "row budget reached"
    partial = f" — <b>partial</b> ({reason})" if meta.get("partial") else " — complete"
    pages = meta.get("pages", 0)
    flagged = "".join(f" — ⚠ {field.lower()} names {_html(', '.join(names))}, not seen on "
                      f"{_html(inputs.table)}" for field, names in (unknown or {}).items())
    missing = meta.get("projection_missing") or []
    unreturned = (f" — <span class='xacct-warning' style='color:#b60'>no item returned "
                  f"column {_html(', '.join(missing))}</span> (a dotted name is a path: put a "
                  "name with . in double quotes)") if missing else ""
    reads = meta.get("reads", 1)
    loads = f" (Run + {reads - 1} Load more)" if reads > 1 else ""
    more = resume_hint if meta.get("partial") else ""
    return (f"<b>{len(df)}</b> rows × {len(df.columns)} columns — {_html(inputs.text())}"
            f" — {pages} page{'s' if pages != 1 else ''}{loads}, {_rcu_text(meta.get('consumed_rcu', 0))}, "
            f"{meta.get('seconds', 0):.2f} s{partial}{more}{flagged}{unreturned}")


def status_text(df: pd.DataFrame, inputs: RunInputs, *, resume_hint: str = "") -> str:
    """`status_html` as plain text."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", status_html(df, inputs, resume_hint=resume_hint)))


@dataclass(frozen=True)
class RunInputs:
    """What the panel's boxes held for one Run: enough to show it, repeat it or restore it."""

    table: str
    mode: str = "scan"
    index: str = ""
    key: str = ""
    sort_op: str = ""
    sort_value: str = ""
    sort_value2: str = ""
    filter: str = ""
    projection: str = ""
    limit: int = 100
    statement: str = ""  # PartiQL mode: one SELECT

    def sort_condition(self) -> tuple | None:
        if not self.sort_op or self.mode != "query":
            return None
        # values stay text: the table types them by its sort key (007 stays "007" for a string)
        if self.sort_op == "between":
            return ("between", self.sort_value.strip(), self.sort_value2.strip())
        return (self.sort_op, self.sort_value.strip())

    def text(self) -> str:
        """What this Run asks for, in the words of the panel: table, index, key/sort, filter."""
        if self.mode == "partiql":
            return "PartiQL " + " ".join(self.statement.split())
        parts = [f"{self.mode} {self.table}"]
        if self.index:
            parts.append(f"index {self.index}")
        if self.mode == "query":
            parts.append(f"key {self.key.strip() or '(none)'}")
            sort = self.sort_condition()
            if sort:
                parts.append("sort " + " ".join(str(v) for v in sort))
        if self.filter.strip():
            parts.append(f"filter {self.filter.strip()}")
        if self.projection.strip():
            parts.append(f"columns {self.projection.strip()}")
        return " · ".join(parts)


@dataclass
class RunRecord:
    """One Run of the session (and the Load mores that continued it)."""

    inputs: RunInputs
    started: datetime
    args: dict[str, Any] = field(default_factory=dict)  # what went to read()
    rows: int = 0
    consumed_rcu: float | None = 0.0  # None: the service did not report it
    seconds: float = 0.0
    reads: int = 1  # the Run and each Load more
    error: str | None = None
    partial: bool = False  # the budget (or Stop) ended it: the history says so too

    def label(self) -> str:
        outcome = self.error or (f"{self.rows} rows{' (partial)' if self.partial else ''}, "
                                 f"{_rcu_text(self.consumed_rcu)}, {self.seconds:.2f} s"
                                 + (f", {self.reads - 1} load more" if self.reads > 1 else ""))
        return f"{self.started:%H:%M:%S} {self.inputs.text()} → {outcome}"


class ExplorerPanel:
    """ipywidgets panel over `read`. `panel.result` holds the last DataFrame, `panel.error` the last
    error line; after every Run the output area holds exactly one of them.

    The output is replaced by assigning `Output.outputs` (one comm message the front end applies
    in one step), never by clear_output() + append: those travel as two different messages and the
    clear could land after the new table, leaving the area empty."""

    def __init__(self, session, tables: list[str] | Mapping[str, str], *, limit: int = 100,
                 page_size: int | None = None, session_variable: str = "session",
                 cli_profile: str | None = None, export_dir: str | os.PathLike = "exports",
                 queries_file: str | os.PathLike | None = None, grants: Mapping[str, str] | None = None,
                 edit_log: str | os.PathLike | None = None):
        import ipywidgets as w

        from .notebook import viewer_html
        from .widgets_edit import ItemEditor

        self.session = session
        self.page_size = page_size  # items per request (Limit); None: DynamoDB's 1 MB pages
        self.session_variable, self.cli_profile = session_variable, cli_profile  # for Show code
        self.export_dir = Path(export_dir)  # outside runs/: exports are not audit records
        self.queries_file = Path(queries_file) if queries_file else None  # saved queries
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._tables: dict[str, RemoteTable] = {}
        self._columns_seen: dict[str, list[str]] = {}  # per table, from its last result
        self._attributes_seen: dict[str, set[str]] = {}  # per table, every column of every result
        self._has_sort_key = False
        self._target: tuple[str, str] | None = None  # (table, index) the inputs were typed for
        self._switching = False
        self._restoring = False
        self._picking = False
        self._loading_saved = False
        self.history: list[RunRecord] = []  # every Run of the session, oldest first
        self._last: RunRecord | None = None  # the Run whose result is shown (Load more continues it)
        self.notice = ""  # what the last switch of table/index did to the inputs
        self.result: pd.DataFrame | None = None
        self.error: str | None = None
        style = {"description_width": "90px"}

        def wide() -> Any:  # a Layout per widget: a shared one would hide them all together
            return w.Layout(width="420px")

        # A mapping shows its keys (table names) and reads its values (spec.read_names: the
        # table ARNs in resource_policy mode); a list reads the names themselves.
        self._read_names = dict(tables) if isinstance(tables, Mapping) else {name: name for name in tables}
        self.table = w.Dropdown(options=list(self._read_names), description="Table", style=style, layout=wide())
        self.mode = w.ToggleButtons(options=[("Scan", "scan"), ("Query", "query"), ("PartiQL", "partiql")],
                                    value="scan",
                                    description="Mode", style=style)
        self.index = w.Dropdown(options=[("(table)", "")], description="Index", style=style, layout=wide())
        self.key = w.Text(description="Key", placeholder="partition key value", style=style, layout=wide())
        self.sort_op = w.Dropdown(options=[(op or "(any)", op) for op in SORT_OPS], value="",
                                  description="Sort key", style=style, layout=w.Layout(width="200px"))
        self.sort_value = w.Text(placeholder="value", layout=w.Layout(width="140px"))
        self.sort_value2 = w.Text(placeholder="and (between)", layout=w.Layout(width="140px"))
        self.sort_row = w.HBox([self.sort_op, self.sort_value, self.sort_value2])
        self.filter = w.Text(description="Filter", placeholder="name=value, name>value",
                             style=style, layout=wide())
        self.projection = w.Text(description="Columns", placeholder="all; or: name, name",
                                 style=style, layout=wide())
        self.statement = w.Textarea(description="SELECT", style=style, rows=3,
                                    placeholder='SELECT * FROM "orders" WHERE "customer_id" = \'C0007\'',
                                    layout=w.Layout(width="640px", display="none"))
        # continuous: a number typed and then Run clicked is the number the Run uses (by default
        # the box syncs on leaving it, which can arrive after the click)
        self.limit = w.BoundedIntText(value=limit, min=1, max=1_000_000, description="Max rows",
                                      style=style, layout=w.Layout(width="200px"),
                                      continuous_update=True)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="Run the read (Enter in any box does the same)")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True,
                                    tooltip="End the running read after the page in hand")
        self.load_more_button = w.Button(description="Load more", icon="forward", disabled=True,
                                         tooltip="Continue the shown Run where it stopped: up to Max rows more")
        self.load_more_button.on_click(lambda _: self.start(self.load_more))
        self.history_list = w.Select(options=[], rows=6, layout=w.Layout(width="100%"))
        self._restoring_history = False
        self.history_list.observe(lambda _: self._on_history(), names="value")
        self.history_box = w.VBox([w.HTML("<b>History</b> — this session's Runs, newest first; "
                                          "click one to put its inputs back"), self.history_list],
                                  layout=w.Layout(display="none"))
        self.code_button = w.ToggleButton(description="Show code", icon="code", value=False,
                                          tooltip="The shown Run as Python, boto3, AWS CLI and PartiQL")
        self.code_button.observe(lambda _: self._refresh_code(), names="value")
        # Fixed children whose values change: replacing a Tab's children closes the old widgets
        # while the page may still draw them ("widget model not found" in the browser console).
        self.code_texts = [_code_area() for _ in CODE_TABS]
        self.code_tabs = w.Tab(children=self.code_texts, titles=CODE_TABS,
                               layout=w.Layout(display="none", width="100%"))
        self.code_tabs.add_class("xacct-code")
        self.item_pick = w.Dropdown(options=[], description="Item", style=style,
                                    layout=w.Layout(width="420px", display="none"))
        self.item_pick.observe(lambda _: self._on_item_pick(), names="value")
        self.item_tree = w.HTML()
        self.item_texts = [_code_area(), _code_area()]
        self.item_tabs = w.Tab(children=[self.item_tree, *self.item_texts],
                               titles=("Tree", "JSON", "DynamoDB JSON"),
                               layout=w.Layout(display="none", width="100%"))
        self.item_tabs.add_class("xacct-item")
        self.item: dict[str, Any] | None = None  # the viewed item, as GetItem returned it
        # edit controls under the item view: only for tables granted ReadWriteUpdate/Full
        # (`grants`: table -> access_type, e.g. from the spec); every write goes to `edit_log`
        self.editor = ItemEditor(self, grants, edit_log)
        self.export_format = w.Dropdown(options=[("CSV", ".csv"), ("Parquet", ".parquet"), ("JSONL", ".jsonl")],
                                        value=".csv", layout=w.Layout(width="100px"))
        self.export_button = w.Button(description="Export", icon="download", disabled=True,
                                      tooltip="Write the shown result to a new file in the exports folder")
        self.export_button.on_click(lambda _: self.export())
        self.saved = w.Dropdown(options=[("(pick one to load its inputs)", "")], description="Saved",
                                style=style, layout=w.Layout(width="420px"))
        self.saved.observe(lambda _: self._on_saved(), names="value")
        self.save_name = w.Text(placeholder="name for the shown Run", layout=w.Layout(width="220px"))
        self.save_button = w.Button(description="Save", icon="save",
                                    tooltip="Save the shown Run's inputs under this name")
        self.save_button.on_click(lambda _: self.save())
        self.saved_box = w.HBox([self.saved, self.save_name, self.save_button],
                                layout=w.Layout(display=None if queries_file else "none"))
        self.status = w.HTML()
        self.status.add_class("xacct-status")  # the browser test reads the status line by this
        # attribute names the target does not have, flagged while typing (before the Run)
        self.warning = w.HTML()
        self.warning.add_class("xacct-warning")
        self.output = w.Output(layout=w.Layout(width="100%"))
        self.output.add_class("xacct-result")
        # The table viewer (DataTables, embedded: no CDN) lives in a widget of the panel, so it
        # is restored with the panel from the kernel after a page reload or a reopened notebook.
        self.viewer = w.Output()
        self.viewer.add_class("xacct-viewer")
        self.viewer.outputs = (_html_output(viewer_html()),)
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        with warnings.catch_warnings():
            # deprecated in ipywidgets 8 in favour of continuous_update=False, which would also
            # run on leaving a box; the front end still sends Enter as this "submit" event
            warnings.simplefilter("ignore", DeprecationWarning)
            for box in (self.key, self.sort_value, self.sort_value2, self.filter, self.projection):
                box.on_submit(lambda _: self.start())  # Enter in a box runs, as in a desktop client
        self.table.observe(lambda _: self._refresh_indexes(), names="value")
        self.index.observe(lambda _: self._on_index(), names="value")
        for box in (self.filter, self.projection):
            box.observe(lambda _: self._flag_unknown(), names="value")
        self.mode.observe(lambda _: self._sync_mode(), names="value")
        self.sort_op.observe(lambda _: self._sync_mode(), names="value")
        self._refresh_indexes()
        self._sync_mode()
        self._refresh_saved()
        self.widget = w.VBox([
            self.table, self.mode, self.statement, self.index, self.key, self.sort_row,
            self.filter, self.projection, self.warning,
            w.HBox([self.limit, self.run_button, self.stop_button, self.load_more_button,
                    self.code_button, self.export_format, self.export_button]),
            self.status, self.code_tabs, self.output, self.item_pick, self.item_tabs, self.editor.box,
            self.history_box, self.saved_box, self.viewer, w.HTML(_PANEL_CSS),
        ])
        self.widget.add_class("xacct-explorer")  # a stable handle for styling and the browser test

    def _ipython_display_(self) -> None:
        from IPython.display import display

        bundle = self.widget._repr_mimebundle_()
        # what a record without widget state (papermill) shows instead of the widget's repr
        bundle["text/plain"] = "Explorer panel: interactive, in JupyterLab with this notebook's kernel running"
        display(bundle, raw=True)

    def _remote(self, name: str) -> RemoteTable:
        """One RemoteTable per table: each Run reuses its clients and cached DescribeTable."""
        if name not in self._tables:
            self._tables[name] = RemoteTable(self.session, self._read_names.get(name, name))
        return self._tables[name]

    def _info(self) -> TableInfo:
        return self._remote(self.table.value).describe()

    def _refresh_indexes(self) -> None:
        if not self.table.value:
            return
        try:
            info = self._info()
        except XacctError as err:
            self._show_error(str(err))
            return
        self._switching = True  # setting the options moves the index: one switch, not two
        try:
            self.index.options = [("(table)", "")] + [(name, name) for name in info.index_names]
            self.index.value = ""
        finally:
            self._switching = False
        self._sync_key_schema()
        self._follow_selection()

    def _on_index(self) -> None:
        if self._switching:
            return
        self._sync_key_schema()
        self._follow_selection()

    # -- inputs follow the selection ---------------------------------------------------------------
    def known_attributes(self, table: str | None = None) -> set[str]:
        """What the panel knows `table` has: its key schema, its indexes' keys and every column
        of every result read from it so far."""
        info = self._remote(table or self.table.value).describe()
        names = set(info.key.names) | {n for ix in info.indexes for n in ix.key.names}
        return names | self._attributes_seen.get(info.name, set())

    def _follow_selection(self) -> None:
        """After a switch of table or index: each input is reset unless every attribute it names
        exists on the new target (a sort condition keeps only for the same sort key, a key value
        for the same partition key), and the status line says which were kept and which reset —
        an order-id range silently applied to created_at answers "no items" and looks right."""
        if self._restoring:
            return
        target = (self.table.value, self.index.value)
        previous, self._target = self._target, target
        if previous is None or previous == target:
            return
        try:
            old = self._remote(previous[0]).describe().key_for(previous[1] or None)
            new = self._info().key_for(target[1] or None)
        except XacctError:
            return
        known = self.known_attributes()
        kept: list[str] = []
        reset: list[str] = []

        def decide(label: str, has_value: bool, keep: bool, clear) -> None:
            if not has_value:
                return
            if keep:
                kept.append(label)
            else:
                clear()
                reset.append(label)

        same_partition = (old.partition_key, old.partition_type) == (new.partition_key, new.partition_type)
        same_sort = new.sort_key is not None and (old.sort_key, old.sort_type) == (new.sort_key, new.sort_type)
        decide("key", bool(self.key.value.strip()), same_partition, lambda: setattr(self.key, "value", ""))

        def clear_sort() -> None:
            self.sort_op.value = ""
            self.sort_value.value = self.sort_value2.value = ""

        decide("sort", bool(self.sort_op.value or self.sort_value.value.strip()), same_sort, clear_sort)
        filter_names = self._filter_names()
        decide("filter", bool(self.filter.value.strip()),
               filter_names is not None and _all_known(filter_names, known),
               lambda: setattr(self.filter, "value", ""))
        decide("columns", bool(self.projection.value.strip()),
               _all_known(parse_projection(self.projection.value), known),
               lambda: setattr(self.projection, "value", ""))
        where = self.table.value + (f" index {self.index.value}" if self.index.value else "")
        parts = [f"switched to {where}"]
        if reset:
            parts.append("reset " + ", ".join(reset))
        if kept:
            parts.append("kept " + ", ".join(kept) + f" (every attribute they name exists on {where})")
        self.notice = "; ".join(parts)
        self.status.value = f"<span class='xacct-notice'>{_html(self.notice)}{self._mark_stale()}</span>"
        self._flag_unknown()

    def _filter_names(self) -> list[AttributePath] | None:
        """The attributes the Filter box names (None when it does not parse: the Run says why)."""
        try:
            return list(parse_filters(self.filter.value, None, field="Filter"))
        except XacctError:
            return None

    def unknown_attributes(self) -> dict[str, list[str]]:
        """Per input (Filter, Columns), the attribute names the table is not known to have."""
        try:
            known = self.known_attributes()
        except XacctError:
            return {}
        named: dict[str, list[AttributePath]] = {"Filter": self._filter_names() or [],
                                                 "Columns": parse_projection(self.projection.value)}
        return {field: unknown for field, names in named.items()
                if (unknown := [show_path(n) for n in names if not _is_known(n, known)])}

    def _flag_unknown(self) -> None:
        unknown = self.unknown_attributes()
        if not unknown:
            self.warning.value = ""
            return
        table = self.table.value
        lines = [f"{field}: {', '.join(names)} — not an attribute of {table} (its key schema and the "
                 "attributes seen in results so far); a condition on it matches nothing"
                 if field == "Filter" else
                 f"{field}: {', '.join(names)} — not an attribute of {table} seen so far; the "
                 "column will be missing" for field, names in unknown.items()]
        self.warning.value = "<br>".join(
            f"<span style='color:#a60'>⚠ {_html(line)}</span>" for line in lines)

    def _sync_key_schema(self) -> None:
        """Key and sort placeholders name the chosen table's or index's key; the sort-key row shows
        only when that key has a sort key; the filter example names attributes the table has."""
        try:
            info = self._info()
        except XacctError:
            return  # already reported by _refresh_indexes
        key = info.key_for(self.index.value or None)
        self.key.placeholder = f"{key.partition_key} value ({_TYPE_NAMES.get(key.partition_type, key.partition_type)})"
        self.sort_value.placeholder = f"{key.sort_key} value" if key.sort_key else "value"
        self._has_sort_key = key.sort_key is not None  # a sort condition left over is reset by
        self._sync_mode()                                # _follow_selection, and reported
        attributes = self._filterable(info, key)
        self.filter.placeholder = _filter_example(attributes)
        self.projection.placeholder = "all; or: " + ", ".join([*key.names, *attributes][:3])

    def _filterable(self, info: TableInfo, key: KeySchema) -> list[str]:
        """Attributes of the table that a filter may name (not the read's own key)."""
        known = self._columns_seen.get(info.name) or [
            name for ix in info.indexes for name in ix.key.names] + list(info.key.names)
        return [name for name in dict.fromkeys(known) if name not in key.names]

    def _sync_mode(self) -> None:
        """Key and sort-key rows only where they take part: a query, and a key with a sort key
        (a disabled box still showing an old key reads as if the scan used it)."""
        query = self.mode.value == "query"
        partiql = self.mode.value == "partiql"
        self.statement.layout.display = None if partiql else "none"
        for box in (self.index, self.filter, self.projection):  # a SELECT says all of these itself
            box.layout.display = "none" if partiql else None
        self.key.layout.display = None if query else "none"
        self.sort_row.layout.display = None if query and self._has_sort_key else "none"
        # the value boxes only when the chosen condition uses them: a greyed box still holding an
        # old bound reads as if it applied
        self.sort_value.layout.display = None if self.sort_op.value else "none"
        self.sort_value2.layout.display = None if self.sort_op.value == "between" else "none"

    def sort_condition(self) -> tuple | None:
        return self.inputs().sort_condition()

    def inputs(self) -> RunInputs:
        """The boxes' values now."""
        return RunInputs(table=self.table.value, mode=self.mode.value, index=self.index.value,
                         key=self.key.value, sort_op=self.sort_op.value,
                         sort_value=self.sort_value.value, sort_value2=self.sort_value2.value,
                         filter=self.filter.value, projection=self.projection.value,
                         limit=self.limit.value, statement=self.statement.value)

    def restore(self, inputs: RunInputs) -> None:
        """Put a Run's inputs back in the boxes (history): nothing is reset on the way."""
        self._restoring = True
        try:
            self.table.value = inputs.table
            self._refresh_indexes()
            self.index.value = inputs.index
            self._sync_key_schema()
            self.mode.value = inputs.mode
            for name, value in asdict(inputs).items():
                if name not in ("table", "index", "mode"):
                    getattr(self, name).value = value
        finally:
            self._restoring = False
        self._target = (self.table.value, self.index.value)
        self._sync_mode()
        self._flag_unknown()
        self.status.value = (f"<span class='xacct-notice'>restored the inputs of: {_html(inputs.text())}"
                             f"{self._mark_stale() or ' — press Run'}</span>")

    # -- running -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def start(self, action: Callable[[], Any] | None = None) -> bool:
        """What Run, Enter and Load more do: the read (`action`, default run) on a thread of its
        own, so the kernel stays free for Stop; while one is in progress others do nothing
        (returns False)."""
        if self.running:
            return False
        self._stop.clear()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.load_more_button.disabled = True
        self._worker = threading.Thread(target=self._run_in_background, args=(action or self.run,),
                                        daemon=True, name="xacct-explorer-run")
        self._worker.start()
        return True

    def stop(self) -> None:
        """End the running read after the page in hand (its rows are kept, marked partial)."""
        self._stop.set()

    def wait(self, timeout: float | None = 120) -> None:
        """Until the running read (if any) has ended."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _run_in_background(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as err:  # never a silent end: the error goes where results go
            self._show_error(f"unexpected error: {type(err).__name__}: {err}")
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def run(self) -> pd.DataFrame | None:
        """One Run, here and now; returns the frame (None after an error, shown in the panel).
        While it reads, the result area says so with a live count: the previous result is gone
        from the screen (panel.result keeps it until this Run has one)."""
        inputs = self.inputs()
        record = RunRecord(inputs, datetime.now(UTC))
        self.notice = ""
        self.load_more_button.disabled = True
        self._refresh_item_pick(None)  # no item of the previous result under a running Run
        self.status.value = f"running: {_html(inputs.text())}…"
        self._mark_stale(False)  # the running count replaces the old table
        self.output.outputs = (_html_output(_running_html(0, 0, 0.0)),)
        self.error = None
        try:
            df = run_inputs(self._remote, inputs, page_size=self.page_size, progress=self._show_progress,
                            stop=self._stop, args_out=record.args)
        except XacctError as err:
            record.error = str(err)
            self._add_history(record)
            self._last = None
            self._show_error(str(err))
            return None
        self._last = record
        self._account(record, df, df)
        self._add_history(record)
        self._show_result(df)
        return df

    def load_more(self) -> pd.DataFrame | None:
        """Continue the shown Run from its LastEvaluatedKey: up to Max rows more (the same
        budget rule as the Run), appended to the result. The Run's own inputs are used, not
        what the boxes hold now (the status line names them)."""
        last, previous = self._last, self.result
        if last is None or previous is None or not previous.attrs.get("xacct", {}).get("partial"):
            self._show_error("nothing to load: the shown result is complete — press Run")
            return None
        start_key = previous.attrs["xacct"]["last_evaluated_key"]
        self.load_more_button.disabled = True
        self.status.value = f"loading more: {_html(last.inputs.text())}…"
        self._mark_stale(False)
        self.output.outputs = (_html_output(_running_html(0, 0, 0.0, base=len(previous))),)
        self.error = None
        try:
            more = read(self.session, self._remote(last.inputs.table), **last.args,
                        start_key=start_key, page_size=self.page_size,
                        progress=lambda event: self._show_progress(event, base=len(previous)),
                        stop=self._stop)
        except XacctError as err:
            self._show_error(str(err))  # the rows read so far stay in panel.result
            return None
        df = pd.concat([previous, more], ignore_index=True)
        before, after = previous.attrs["xacct"], more.attrs["xacct"]
        df.attrs["xacct"] = {**after, "items": len(df),
                             "pages": before.get("pages", 0) + after.get("pages", 0),
                             "scanned": before.get("scanned", 0) + after.get("scanned", 0),
                             "consumed_rcu": before.get("consumed_rcu", 0) + after.get("consumed_rcu", 0),
                             "seconds": round(before.get("seconds", 0) + after.get("seconds", 0), 3),
                             "reads": before.get("reads", 1) + 1}
        last.reads += 1
        self._account(last, df, more)
        self._refresh_history()
        self._show_result(df)
        return df

    def _read_args(self, inputs: RunInputs, info: TableInfo) -> dict[str, Any]:
        return read_args(inputs, info)

    def _account(self, record: RunRecord, df: pd.DataFrame, read_now: pd.DataFrame) -> None:
        meta = df.attrs.get("xacct", {})
        record.rows, record.consumed_rcu, record.seconds = len(df), meta.get("consumed_rcu", 0.0), \
            meta.get("seconds", 0.0)
        record.partial = bool(meta.get("partial"))
        self.result = df
        table = record.inputs.table
        self._attributes_seen.setdefault(table, set()).update(str(c) for c in read_now.columns)
        if not record.inputs.projection.strip():
            self._columns_seen[table] = [str(c) for c in df.columns]
            if table == self.table.value:
                self._sync_key_schema()
        self._flag_unknown()

    def _show_result(self, df: pd.DataFrame) -> None:
        # the result first, then the line that says it is there
        self.output.outputs = (_html_output(self._result_html(df)),)
        self._mark_stale(False)
        self.status.value = self._status_line(df)
        self._refresh_code()
        self._refresh_item_pick(df)
        self.export_button.disabled = df.empty
        # a PartiQL result cut inside a page has no place to resume from
        self.load_more_button.disabled = not df.attrs.get("xacct", {}).get("partial") \
            or df.attrs["xacct"].get("operation") == "ExecuteStatement"

    # -- export --------------------------------------------------------------------------------------
    def export(self, format: str | None = None) -> Path | None:
        """The shown result as a new CSV/Parquet/JSONL file in the exports folder (written to a
        temporary name, then hard-linked to its final name: never a half-written file under the
        final name, never an existing file replaced). Returns its path; the status line says
        where and what it holds."""
        from .dynamo import write_frame

        suffix = format or self.export_format.value
        df, last = self.result, self._last
        if df is None or last is None:
            self._show_error("nothing to export: Run first")
            return None
        inputs = last.inputs
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        stem = "-".join(part for part in (inputs.table, inputs.index, inputs.mode, stamp) if part)
        self.export_dir.mkdir(parents=True, exist_ok=True)
        target = self.export_dir / f"{stem}{suffix}"
        n = 1
        while target.exists():
            n += 1
            target = self.export_dir / f"{stem}-{n}{suffix}"
        fd, tmp_name = tempfile.mkstemp(dir=self.export_dir, prefix=f".{target.stem}.", suffix=suffix)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write_frame(df, tmp)
            os.link(tmp, target)  # fails if the name was taken meanwhile: nothing is replaced
        except FileExistsError:
            tmp.unlink(missing_ok=True)
            self._show_error(f"export: {target} appeared meanwhile — Export again")
            return None
        except (OSError, XacctError) as err:
            tmp.unlink(missing_ok=True)
            self._show_error(f"export to {self.export_dir} failed: {err}")
            return None
        tmp.unlink()
        meta = df.attrs.get("xacct", {})
        partial = " — a <b>partial</b> result (Load more first for more rows)" if meta.get("partial") else ""
        self.status.value = (self._status_line(df) + f"<br>exported {len(df)} rows to "
                             f"<code>{_html(str(target.resolve()))}</code>{partial}")
        return target

    # -- item view -------------------------------------------------------------------------------------
    def _refresh_item_pick(self, df: pd.DataFrame | None) -> None:
        self._picking = True
        try:
            self.item_tabs.layout.display = "none"
            self.item = None
            self.editor.hide()
            if df is None or df.empty or self._last is None:
                self.item_pick.options, self.item_pick.layout.display = [], "none"
                return
            names = list(self._remote(_result_table(df, self._last)).describe().key.names)
            if not set(names) <= set(df.columns):  # a SELECT without the key: no item to fetch
                self.item_pick.options, self.item_pick.layout.display = [], "none"
                return
            shown = df.head(ITEM_PICK_ROWS)
            labels = [" · ".join(str(v) for v in values) for values in shown[names].itertuples(index=False)]
            more = f" (first {ITEM_PICK_ROWS})" if len(df) > ITEM_PICK_ROWS else ""
            self.item_pick.options = [(f"(pick a row to see its whole item{more})", -1)] + [
                (f"{n + 1}: {label}", n) for n, label in enumerate(labels)]
            self.item_pick.value = -1
            self.item_pick.layout.display = None
        finally:
            self._picking = False

    def _on_item_pick(self) -> None:
        if self._picking or self.item_pick.value in (None, -1):
            return
        self.view_item(self.item_pick.value)

    def view_item(self, row: int) -> dict[str, Any] | None:
        """Row `row` of the result as the whole item (GetItem by its table key, so attributes
        the Run did not project are there too): a typed tree, JSON and DynamoDB JSON."""
        from .grammar import key_value
        from .item_view import dynamodb_json, plain_json, tree_html

        if self.result is None or self._last is None:
            return None
        table = _result_table(self.result, self._last)
        remote = self._remote(table)
        info = remote.describe()
        values = self.result.iloc[row]
        self.editor.hide()
        try:
            key = {name: key_value(name, info.key.type_of(name), _python_value(values[name]),
                                   f"table {info.name}") for name in info.key.names}
            # strongly consistent: the item view (and an edit's condition) starts from the latest item
            item = remote.call("GetItem", Key=key, ConsistentRead=True).get("Item")
        except XacctError as err:
            self._show_item(f"<span style='color:#b00'>{_html(str(err))}</span>", "", "")
            return None
        if item is None:
            text = "no such item any more: it was deleted after the Run read it — Run again"
            self._show_item(f"<span style='color:#b00'>{_html(text)}</span>", "", "")
            return None
        self.item = item
        self._show_item(tree_html(item), plain_json(item), dynamodb_json(item))
        self.editor.show(table, item, row)
        return item

    def _edited(self, table: str, row: int | None, result: Any) -> None:
        """An edit was applied: the item view shows the item as DynamoDB returned it (ALL_NEW),
        the result's row is replaced by it, the status line says so and where it was logged."""
        from .dynamo.to_pandas import items_to_frame
        from .item_view import dynamodb_json, plain_json, tree_html

        self.item = result.item
        self._show_item(tree_html(result.item), plain_json(result.item), dynamodb_json(result.item))
        df = self.result
        note = ""
        if df is not None and row is not None and 0 <= row < len(df):
            fresh = items_to_frame([result.item], key_names=self._remote(table).describe().key.names)
            projected = bool(self._last and self._last.inputs.projection.strip()) \
                or (self._last is not None and self._last.inputs.mode == "partiql")
            if projected:  # the Run chose its columns: the row keeps them
                fresh = fresh.reindex(columns=[c for c in df.columns if c in fresh.columns])
            updated = pd.concat([df.iloc[:row], fresh, df.iloc[row + 1:]], ignore_index=True)
            updated = updated.reindex(columns=list(dict.fromkeys([*df.columns, *updated.columns])))
            updated.attrs = df.attrs
            self.result = df = updated
            self.output.outputs = (_html_output(self._result_html(df)),)
            note = f" — row {row + 1} of the result shows it"
        where = f" (logged to <code>{_html(str(result.log))}</code>)" if result.log else " (not logged)"
        key = ", ".join(f"{k}={_key_text(v)}" for k, v in result.plan.key.items())
        line = (f"<span class='xacct-edited'>updated {_html(table)} {_html(key)}: "
                f"{_html(result.plan.summary())}{where}{note}</span>")
        self.status.value = (self._status_line(df) + "<br>" if df is not None else "") + line

    def _show_item(self, tree: str, plain: str, wire: str) -> None:
        self.item_tree.value = tree
        for box, text in zip(self.item_texts, (plain, wire)):
            _set_text(box, text)
        self.item_tabs.selected_index = 0
        self.item_tabs.layout.display = None

    # -- show code -----------------------------------------------------------------------------------
    def code(self) -> dict[str, str]:
        """The shown Run (else the boxes' current inputs) as Python, boto3, AWS CLI and PartiQL."""
        from .explorer_code import partiql_code, run_code

        if self._last is not None:
            inputs, args = self._last.inputs, self._last.args
        else:
            inputs = self.inputs()
            args = {"mode": "partiql", "statement": inputs.statement, "limit": inputs.limit} \
                if inputs.mode == "partiql" else self._read_args(inputs, self._remote(inputs.table).describe())
        if args.get("mode") == "partiql":
            return partiql_code(args["statement"], args["limit"], session_variable=self.session_variable,
                                cli_profile=self.cli_profile, region=self.session.region_name)
        return run_code(self._remote(inputs.table), args, session_variable=self.session_variable,
                        cli_profile=self.cli_profile)

    def _refresh_code(self) -> None:
        if not self.code_button.value:
            self.code_tabs.layout.display = "none"
            return
        try:
            snippets = self.code()
        except XacctError as err:
            snippets = dict.fromkeys(CODE_TABS, f"# no code: {err}")
        for box, title in zip(self.code_texts, CODE_TABS):
            _set_text(box, snippets[title])
        self.code_tabs.layout.display = None

    # -- saved queries ---------------------------------------------------------------------------------
    def saved_queries(self) -> dict[str, RunInputs]:
        from .saved_queries import load_queries

        return load_queries(self.queries_file) if self.queries_file else {}

    def _refresh_saved(self) -> None:
        try:
            names = list(self.saved_queries())
        except XacctError as err:
            self._show_error(str(err))
            names = []
        self._loading_saved = True
        try:
            self.saved.options = [("(pick one to load its inputs)", "")] + [(n, n) for n in names]
            self.saved.value = ""
        finally:
            self._loading_saved = False

    def _on_saved(self) -> None:
        if self._loading_saved or not self.saved.value:
            return
        self.load_saved(self.saved.value)

    def load_saved(self, name: str) -> RunInputs | None:
        """Put the saved query `name` in the boxes (then press Run)."""
        try:
            inputs = self.saved_queries()[name]
        except XacctError as err:
            self._show_error(str(err))
            return None
        except KeyError:
            self._show_error(f"no saved query {name!r} in {self.queries_file}")
            return None
        self.restore(inputs)
        self.status.value = (f"<span class='xacct-notice'>loaded saved query {_html(name)}: "
                             f"{_html(inputs.text())}{self._mark_stale() or ' — press Run'}</span>")
        self._refresh_saved()
        return inputs

    def save(self, name: str | None = None) -> Path | None:
        """Save the shown Run's inputs (else the boxes') under `name` in the queries file."""
        from .saved_queries import save_query

        if self.queries_file is None:
            self._show_error("no queries file: pass queries_file= to ExplorerPanel")
            return None
        name = (name if name is not None else self.save_name.value).strip()
        inputs = self._last.inputs if self._last is not None else self.inputs()
        try:
            path = save_query(self.queries_file, name, inputs)
        except XacctError as err:
            self.status.value = f"<span class='xacct-error' style='color:#b00'>{_html(str(err))}</span>"
            return None
        self.save_name.value = ""
        self._refresh_saved()
        # under the shown result's own line, which stays: complete/partial remains in view
        shown = self._status_line(self.result) + "<br>" if self.result is not None and self._last else ""
        self.status.value = (f"{shown}<span class='xacct-notice'>saved {_html(inputs.text())} as "
                             f"<b>{_html(name)}</b> in {_html(str(path))}</span>")
        return path

    # -- history -------------------------------------------------------------------------------------
    def _add_history(self, record: RunRecord) -> None:
        self.history.append(record)
        self._refresh_history()

    def _refresh_history(self) -> None:
        self._restoring_history = True
        try:
            # newest first; the value is the index in self.history
            self.history_list.options = [(r.label(), n) for n, r in reversed(list(enumerate(self.history)))]
            self.history_list.value = None
        finally:
            self._restoring_history = False
        self.history_box.layout.display = None if self.history else "none"

    def _on_history(self) -> None:
        if self._restoring_history or self.history_list.value is None:
            return
        self.restore(self.history[self.history_list.value].inputs)
        self._restoring_history = True
        try:
            self.history_list.value = None  # a second click on the same Run restores again
        finally:
            self._restoring_history = False

    def _show_progress(self, event: ProgressEvent, base: int = 0) -> None:
        stats = event.stats
        self.output.outputs = (_html_output(_running_html(
            stats.get("items", 0), stats.get("pages", 0), stats.get("consumed_rcu"), base=base)),)

    def _mark_stale(self, stale: bool = True) -> str:
        """After the inputs changed (a switch, a restore, a saved query loaded) the table below
        belongs to the previous Run: it is dimmed until the next Run replaces it, and the returned
        words say so on the status line ("" when nothing is shown)."""
        shown = stale and (self.result is not None or self.error is not None)
        (self.output.add_class if shown else self.output.remove_class)("xacct-stale")
        return " — the result below is the previous Run's (dimmed); press Run" if shown else ""

    def _show_error(self, message: str) -> None:
        """The error replaces whatever the last Run showed: no stale table under a new error."""
        self._mark_stale(False)
        self.error = message
        self.output.outputs = ()
        self._refresh_item_pick(None)
        self.status.value = f"<span class='xacct-error' style='color:#b00'>{_html(message)}</span>"

    def _request_text(self) -> str:
        return self.inputs().text()

    def _status_line(self, df: pd.DataFrame) -> str:
        inputs = self._last.inputs if self._last is not None else self.inputs()
        return status_html(df, inputs, self.unknown_attributes())

    def _result_html(self, df: pd.DataFrame) -> str:
        from .notebook import table_html

        if df.empty:
            return "<p class='xacct-empty'>No items matched.</p>"
        return table_html(df, page_length=RESULT_PAGE_LENGTH)


_TYPE_NAMES = {"S": "text", "N": "number", "B": "binary"}


def _is_known(path: AttributePath, known: set[str]) -> bool:
    """A name, or a path (("shipping", "city"), ("lines", 0, "sku")) whose top attribute the table has."""
    return (path if isinstance(path, str) else str(path[0])) in known


def _all_known(paths: list[AttributePath], known: set[str]) -> bool:
    return all(_is_known(path, known) for path in paths)


def _filter_example(names: list[str]) -> str:
    if not names:
        return "name=value, name>value"
    return ", ".join(f"{name}{op}…" for name, op in zip(names[:2], ("=", ">")))


CODE_TABS = ("Python", "boto3", "AWS CLI", "PartiQL")


def _code_area() -> Any:
    """A text area for code or JSON: select all and copy."""
    import ipywidgets as w

    box = w.Textarea(layout=w.Layout(width="100%"))
    box.add_class("xacct-code-text")
    return box


def _set_text(box: Any, text: str) -> None:
    box.rows = min(24, text.count("\n") + 1)  # its rows fit the text
    box.value = text


def _result_table(df: pd.DataFrame, record: RunRecord) -> str:
    """The table a result was read from (a PartiQL statement names its own)."""
    return df.attrs.get("xacct", {}).get("table") or record.inputs.table


def _key_text(wire: Mapping[str, Any]) -> str:
    """A key value as the item view writes it (binary as base64)."""
    from .item_edit import value_text

    return value_text(wire)[1]


def _python_value(value: Any) -> Any:
    """A frame cell as a plain Python value (numpy scalars have .item())."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (bytes, str)) else value


def _rcu_text(rcu: float | None) -> str:
    return "RCU not reported" if rcu is None else f"{rcu:g} RCU"


def _running_html(items: int, pages: int, rcu: float | None, base: int = 0) -> str:
    more = f" more (after the {base:,} rows shown before)" if base else ""
    return (f"<p class='xacct-running'><i>running… {items:,} items{more}, {pages} "
            f"page{'s' if pages != 1 else ''}, {_rcu_text(rcu)}</i></p>")


def _html_output(html: str) -> dict[str, Any]:
    """One display_data output in the form `Output.outputs` holds."""
    return {"output_type": "display_data", "data": {"text/html": html, "text/plain": ""},
            "metadata": {}}


def _html(text: str) -> str:
    import html

    return html.escape(text)
