"""The explorer panel of notebook 03: pick a granted table, scan or query it, see a paginated table.

Every widget action is also a plain function call: the Run button calls `ExplorerPanel.run()`,
which calls `read(...)` — the same function batch runs and tests call directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .dynamo import KeySchema, RemoteTable, TableInfo
from .dynamo.table import ProjectionWarning
from .errors import InputError, XacctError
from .grammar import AttributePath, parse_filters, parse_key, parse_projection

SORT_OPS = ("", "=", "<", "<=", ">", ">=", "between", "begins_with")
# Scoped to the panel. ToggleButtons put their description on a line of its own (its label is an
# inline element, the buttons a block); wide results get one line per row with a horizontal
# scrollbar instead of nested maps/lists wrapped into towers of one word per line.
_PANEL_CSS = """<style>
.xacct-explorer .widget-toggle-buttons { display: flex; align-items: baseline; }
.xacct-explorer .widget-toggle-buttons > .widget-label {
  flex: 0 0 auto; text-align: right; margin-right: calc(var(--jp-widgets-inline-margin) * 2); }
.xacct-explorer .widget-output { overflow-x: auto; max-width: 100%; }
.xacct-explorer table.dataTable th,
.xacct-explorer table.dataTable td { white-space: nowrap; }
.xacct-explorer table.dataTable td { max-width: 24em; overflow: hidden; text-overflow: ellipsis; }
</style>"""
RESULT_PAGE_LENGTH = 10  # one of itables' page-length choices (10/25/50/100), so its menu shows it


def read(session, table: str | RemoteTable, *, mode: str = "scan", index: str | None = None, key: Any = None,
         sort: tuple | None = None, filter: dict | None = None, projection: list[AttributePath] | None = None,
         limit: int = 100) -> pd.DataFrame:
    """One read as the panel does it: a query when mode is 'query', else a bounded scan.
    `table` is a name, or a RemoteTable to reuse (its clients and cached description)."""
    if mode not in ("scan", "query"):
        raise InputError(f"mode {mode!r} is neither 'scan' nor 'query' — pick one")
    remote = table if isinstance(table, RemoteTable) else RemoteTable(session, table)
    if mode == "query":
        if key in (None, ""):
            raise InputError("query needs a partition key value — type one in the Key box")
        return remote.query(key, sort=sort, index=index or None, filter=filter or None,
                            projection=projection or None, max_items=limit or None)
    return remote.scan(index=index or None, filter=filter or None, projection=projection or None,
                       max_items=limit or None)


class ExplorerPanel:
    """ipywidgets panel over `read`. `panel.result` holds the last DataFrame, `panel.error` the last
    error line; after every Run the output area holds exactly one of them.

    The output is replaced by assigning `Output.outputs` (one comm message the front end applies
    in one step), never by clear_output() + append: those travel as two different messages and the
    clear could land after the new table, leaving the area empty."""

    def __init__(self, session, tables: list[str] | Mapping[str, str], *, limit: int = 100):
        import ipywidgets as w

        from .notebook import viewer_html

        self.session = session
        self._tables: dict[str, RemoteTable] = {}
        self._columns_seen: dict[str, list[str]] = {}  # per table, from its last result
        self._has_sort_key = False
        self.result: pd.DataFrame | None = None
        self.error: str | None = None
        style = {"description_width": "90px"}

        def wide() -> Any:  # a Layout per widget: a shared one would hide them all together
            return w.Layout(width="420px")

        # A mapping shows its keys and reads its values (spec.read_names: ARNs in resource_policy mode).
        choices = list(tables.items()) if isinstance(tables, Mapping) else list(tables)
        self.table = w.Dropdown(options=choices, description="Table", style=style, layout=wide())
        self.mode = w.ToggleButtons(options=[("Scan", "scan"), ("Query", "query")], value="scan",
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
        self.limit = w.BoundedIntText(value=limit, min=1, max=1_000_000, description="Max rows",
                                      style=style, layout=w.Layout(width="200px"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.status = w.HTML()
        self.output = w.Output(layout=w.Layout(width="100%"))
        self.output.add_class("xacct-result")
        # The table viewer (DataTables, embedded: no CDN) lives in a widget of the panel, so it
        # is restored with the panel from the kernel after a page reload or a reopened notebook.
        self.viewer = w.Output()
        self.viewer.add_class("xacct-viewer")
        self.viewer.outputs = (_html_output(viewer_html()),)
        self.run_button.on_click(lambda _: self.run())
        self.table.observe(lambda _: self._refresh_indexes(), names="value")
        self.index.observe(lambda _: self._sync_key_schema(), names="value")
        self.mode.observe(lambda _: self._sync_mode(), names="value")
        self.sort_op.observe(lambda _: self._sync_mode(), names="value")
        self._refresh_indexes()
        self._sync_mode()
        self.widget = w.VBox([
            self.table, self.mode, self.index, self.key, self.sort_row,
            self.filter, self.projection, w.HBox([self.limit, self.run_button]),
            self.status, self.output, self.viewer, w.HTML(_PANEL_CSS),
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
            self._tables[name] = RemoteTable(self.session, name)
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
        self.index.options = [("(table)", "")] + [(name, name) for name in info.index_names]
        self._sync_key_schema()

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
        self._has_sort_key = key.sort_key is not None
        if not key.sort_key:
            self.sort_op.value = ""
        self._sync_mode()
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
        self.key.layout.display = None if query else "none"
        self.sort_row.layout.display = None if query and self._has_sort_key else "none"
        # the value boxes only when the chosen condition uses them: a greyed box still holding an
        # old bound reads as if it applied
        self.sort_value.layout.display = None if self.sort_op.value else "none"
        self.sort_value2.layout.display = None if self.sort_op.value == "between" else "none"

    def sort_condition(self) -> tuple | None:
        op = self.sort_op.value
        if not op or self.mode.value != "query":
            return None
        # values stay text: the table types them by its sort key (007 stays "007" for a string)
        if op == "between":
            return ("between", self.sort_value.value.strip(), self.sort_value2.value.strip())
        return (op, self.sort_value.value.strip())

    def run(self) -> pd.DataFrame | None:
        """What the Run button does; returns the frame (None after an error, shown in the panel)."""
        self.status.value = f"running: {_html(self._request_text())}…"
        self.error = None
        try:
            remote = self._remote(self.table.value)
            info = remote.describe()
            key_types = {name: info.key_for(ix).type_of(name) for ix in (None, *info.index_names)
                         for name in info.key_for(ix).names}
            with warnings.catch_warnings():  # the status line says it (ProjectionWarning)
                warnings.simplefilter("ignore", ProjectionWarning)
                df = read(self.session, remote, mode=self.mode.value,
                          index=self.index.value or None,
                          key=parse_key(self.key.value, field="Key") if self.key.value.strip() else None,
                          sort=self.sort_condition(),
                          filter=parse_filters(self.filter.value, key_types, field="Filter"),
                          projection=parse_projection(self.projection.value, field="Columns"),
                          limit=self.limit.value)
        except XacctError as err:
            self._show_error(str(err))
            return None
        self.result = df
        if not self.projection.value.strip():
            self._columns_seen[self.table.value] = [str(c) for c in df.columns]
            self._sync_key_schema()
        # the result first, then the line that says it is there
        self.output.outputs = (_html_output(self._result_html(df)),)
        self.status.value = self._status_line(df)
        return df

    def _show_error(self, message: str) -> None:
        """The error replaces whatever the last Run showed: no stale table under a new error."""
        self.error = message
        self.output.outputs = ()
        self.status.value = f"<span class='xacct-error' style='color:#b00'>{_html(message)}</span>"

    def _request_text(self) -> str:
        """What this Run asks for, in the words of the panel: table, index, key/sort, filter."""
        parts = [f"{self.mode.value} {self.table.label}"]
        if self.index.value:
            parts.append(f"index {self.index.value}")
        if self.mode.value == "query":
            parts.append(f"key {self.key.value.strip() or '(none)'}")
            sort = self.sort_condition()
            if sort:
                parts.append("sort " + " ".join(str(v) for v in sort))
        if self.filter.value.strip():
            parts.append(f"filter {self.filter.value.strip()}")
        return " · ".join(parts)

    def _status_line(self, df: pd.DataFrame) -> str:
        meta = df.attrs.get("xacct", {})
        partial = " — <b>partial</b> (row budget reached)" if meta.get("partial") else ""
        pages = meta.get("pages", 0)
        missing = meta.get("projection_missing") or []
        unreturned = (f" — <span class='xacct-warning' style='color:#b60'>no item returned "
                      f"column {_html(', '.join(missing))}</span> (a dotted name is a path: put a "
                      "name with . in double quotes)") if missing else ""
        return (f"<b>{len(df)}</b> rows × {len(df.columns)} columns — {_html(self._request_text())}"
                f" — {pages} page{'s' if pages != 1 else ''}, {meta.get('consumed_rcu', 0):g} RCU, "
                f"{meta.get('seconds', 0):.2f} s{partial}{unreturned}")

    def _result_html(self, df: pd.DataFrame) -> str:
        from .notebook import table_html

        if df.empty:
            return "<p class='xacct-empty'>No items matched.</p>"
        return table_html(df, page_length=RESULT_PAGE_LENGTH)


_TYPE_NAMES = {"S": "text", "N": "number", "B": "binary"}


def _filter_example(names: list[str]) -> str:
    if not names:
        return "name=value, name>value"
    return ", ".join(f"{name}{op}…" for name, op in zip(names[:2], ("=", ">")))


def _html_output(html: str) -> dict[str, Any]:
    """One display_data output in the form `Output.outputs` holds."""
    return {"output_type": "display_data", "data": {"text/html": html, "text/plain": ""},
            "metadata": {}}


def _html(text: str) -> str:
    import html

    return html.escape(text)
