"""The explorer panel of notebook 03: pick a granted table, scan or query it, see a paginated table.

Every widget action is also a plain function call: the Run button calls `ExplorerPanel.run()`,
which calls `read(...)` — the same function batch runs and tests call directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .dynamo import RemoteTable
from .errors import XacctError
from .grammar import parse_filters, parse_key, parse_projection

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
         sort: tuple | None = None, filter: dict | None = None, projection: list[str] | None = None,
         limit: int = 100) -> pd.DataFrame:
    """One read as the panel does it: a query when mode is 'query', else a bounded scan.
    `table` is a name, or a RemoteTable to reuse (its clients and cached description)."""
    remote = table if isinstance(table, RemoteTable) else RemoteTable(session, table)
    if mode == "query":
        if key in (None, ""):
            raise XacctError("query needs a partition key value — type one in the Key box")
        return remote.query(key, sort=sort, index=index or None, filter=filter or None,
                            projection=projection or None, max_items=limit or None)
    return remote.scan(index=index or None, filter=filter or None, projection=projection or None,
                       max_items=limit or None)


class ExplorerPanel:
    """ipywidgets panel over `read`. `panel.result` holds the last DataFrame."""

    def __init__(self, session, tables: list[str], *, limit: int = 100):
        import ipywidgets as w

        self.session = session
        self._tables: dict[str, RemoteTable] = {}
        self.result: pd.DataFrame | None = None
        self.error: str | None = None
        style = {"description_width": "90px"}
        wide = w.Layout(width="420px")
        self.table = w.Dropdown(options=list(tables), description="Table", style=style, layout=wide)
        self.mode = w.ToggleButtons(options=[("Scan", "scan"), ("Query", "query")], value="scan",
                                    description="Mode", style=style)
        self.index = w.Dropdown(options=[("(table)", "")], description="Index", style=style, layout=wide)
        self.key = w.Text(description="Key", placeholder="partition key value", style=style, layout=wide)
        self.sort_op = w.Dropdown(options=[(op or "(any)", op) for op in SORT_OPS], value="",
                                  description="Sort key", style=style, layout=w.Layout(width="200px"))
        self.sort_value = w.Text(placeholder="value", layout=w.Layout(width="140px"))
        self.sort_value2 = w.Text(placeholder="and (between)", layout=w.Layout(width="140px"))
        self.filter = w.Text(description="Filter", placeholder="status=SHIPPED, amount>100",
                             style=style, layout=wide)
        self.projection = w.Text(description="Columns", placeholder="all; or: order_id, status",
                                 style=style, layout=wide)
        self.limit = w.BoundedIntText(value=limit, min=1, max=1_000_000, description="Max rows",
                                      style=style, layout=w.Layout(width="200px"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.status = w.HTML()
        self.output = w.Output(layout=w.Layout(width="100%"))
        self.run_button.on_click(lambda _: self.run())
        self.table.observe(lambda _: self._refresh_indexes(), names="value")
        self.mode.observe(lambda _: self._sync_mode(), names="value")
        self.sort_op.observe(lambda _: self._sync_mode(), names="value")
        self._refresh_indexes()
        self._sync_mode()
        self.widget = w.VBox([
            self.table, self.mode, self.index, self.key,
            w.HBox([self.sort_op, self.sort_value, self.sort_value2]),
            self.filter, self.projection, w.HBox([self.limit, self.run_button]),
            self.status, self.output, w.HTML(_PANEL_CSS),
        ])
        self.widget.add_class("xacct-explorer")  # a stable handle for styling and the browser test

    def _ipython_display_(self) -> None:
        from IPython.display import display

        from .notebook import prepare_tables

        prepare_tables()  # here, in the cell's own output: a button callback's display goes nowhere
        display(self.widget)

    def _remote(self, name: str) -> RemoteTable:
        """One RemoteTable per table: each Run reuses its clients and cached DescribeTable."""
        if name not in self._tables:
            self._tables[name] = RemoteTable(self.session, name)
        return self._tables[name]

    def _refresh_indexes(self) -> None:
        if not self.table.value:
            return
        try:
            info = self._remote(self.table.value).describe()
        except XacctError as err:
            self.status.value = f"<span style='color:#b00'>{_html(str(err))}</span>"
            return
        self.index.options = [("(table)", "")] + [(name, name) for name in info.index_names]
        self.key.placeholder = f"{info.partition_key} value"

    def _sync_mode(self) -> None:
        query = self.mode.value == "query"
        for widget in (self.key, self.sort_op):
            widget.disabled = not query
        # the value boxes only when the chosen condition uses them
        self.sort_value.disabled = not query or not self.sort_op.value
        self.sort_value2.disabled = not query or self.sort_op.value != "between"

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
        from IPython.display import HTML

        from .notebook import table_html

        self.status.value = "running…"
        self.error = None
        try:
            remote = self._remote(self.table.value)
            info = remote.describe()
            key_types = {name: info.key_for(ix).type_of(name) for ix in (None, *info.index_names)
                         for name in info.key_for(ix).names}
            df = read(self.session, remote, mode=self.mode.value,
                      index=self.index.value or None,
                      key=parse_key(self.key.value, field="Key") if self.key.value.strip() else None,
                      sort=self.sort_condition(), filter=parse_filters(self.filter.value, key_types, field="Filter"),
                      projection=parse_projection(self.projection.value), limit=self.limit.value)
        except XacctError as err:
            self.error = str(err)
            self.status.value = f"<span style='color:#b00'>{_html(self.error)}</span>"
            return None
        self.result = df
        meta = df.attrs.get("xacct", {})
        partial = " — partial (budget reached)" if meta.get("partial") else ""
        self.status.value = (f"<b>{len(df)}</b> rows × {len(df.columns)} columns from "
                             f"<code>{_html(self.table.value)}</code>{partial}")
        self.output.clear_output()
        # append_display_data (not `with self.output: display(...)`) also works outside a
        # kernel, so the headless tests see exactly what the browser gets.
        self.output.append_display_data(
            HTML("<p>No items matched.</p>") if df.empty
            else HTML(table_html(df, page_length=RESULT_PAGE_LENGTH)))
        return df


def _html(text: str) -> str:
    import html

    return html.escape(text)
