"""The explorer's item editor: under the item view, for tables granted ReadWriteUpdate or Full.

Thin on top of :mod:`xacct_nb.item_edit`: the boxes say which attribute to set (to a typed value)
or remove; **Review** plans the write and shows the exact ``UpdateItem`` request, as JSON and as
an AWS CLI command; **Confirm** sends exactly that request (any change to the boxes after Review
withdraws it) and logs it. A refused write (the item changed since it was read, or IAM denied it)
is one red line under the buttons; nothing else on screen changes.

Tables granted Read (or whose grant the panel was not told) get no editor at all.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import XacctError
from .grammar import AttributePath, parse_path, show_path
from .item_edit import EDIT_LEVELS, EditLog, EditPlan, EditResult, Remove, SetValue, plan_update, send, value_text

if TYPE_CHECKING:
    from .widgets import ExplorerPanel

__all__ = ["ItemEditor"]

_TYPE_LABELS = (("as typed (like the Filter box)", "auto"), ("S: text", "S"), ("N: number", "N"),
                ("BOOL: true/false", "BOOL"), ("NULL", "NULL"), ("B: binary (base64)", "B"),
                ("SS: text set (a, b)", "SS"), ("NS: number set (1, 2)", "NS"),
                ("JSON: map or list", "JSON"), ("DynamoDB JSON (any type)", "DynamoDB JSON"))
_NEW = "(new attribute: type its name)"


class ItemEditor:
    """The edit controls of one panel's item view (see the module docstring).

    Drive it as the buttons do: ``attribute.value = "balance"``, ``value.value = "12.50"``,
    ``review()`` (the request in ``request_texts``), ``confirm()``."""

    def __init__(self, panel: ExplorerPanel, grants: Mapping[str, str] | None,
                 edit_log: str | os.PathLike | None):
        import ipywidgets as w

        self.panel = panel
        self.grants = dict(grants or {})
        self.log = EditLog(edit_log) if edit_log else None
        self.table: str | None = None  # the table of the item being edited
        self.item: dict[str, Any] | None = None  # as read (GetItem)
        self.row: int | None = None  # its row in panel.result
        self.pending: list[SetValue | Remove] = []  # changes added before Review
        self.plan: EditPlan | None = None  # what Confirm sends: the request on screen
        self.last: EditResult | None = None
        self.message_text: str | None = None  # the editor's last line (refusals: red)
        self._filling = False
        style = {"description_width": "90px"}
        self.title = w.HTML()
        self.attribute = w.Combobox(description="Attribute", options=[], ensure_option=False, style=style,
                                    placeholder="pick one or type a new name (a.b: nested)",
                                    layout=w.Layout(width="420px"))
        self.action = w.ToggleButtons(options=[("Set", "set"), ("Remove", "remove")], value="set",
                                      description="Change", style=style)
        self.type = w.Dropdown(options=_TYPE_LABELS, value="auto", description="Type", style=style,
                               layout=w.Layout(width="420px"))
        self.value = w.Textarea(description="Value", rows=1, style=style, layout=w.Layout(width="640px"),
                                placeholder="the new value")
        self.add_button = w.Button(description="Add change", icon="plus",
                                   tooltip="Keep this change and edit another attribute (one request)")
        self.review_button = w.Button(description="Review", icon="search", button_style="info",
                                      tooltip="Show the exact UpdateItem request these changes make")
        self.confirm_button = w.Button(description="Confirm", icon="check", button_style="warning",
                                       disabled=True, tooltip="Send the request shown above")
        self.discard_button = w.Button(description="Discard", icon="times",
                                       tooltip="Forget the changes not sent yet")
        self.reload_button = w.Button(description="Reload item", icon="refresh",
                                      tooltip="Read the item again (GetItem) and start over")
        self.pending_html = w.HTML()
        self.request_texts = [_code_area(), _code_area()]
        self.request_tabs = w.Tab(children=self.request_texts, titles=("Request (JSON)", "AWS CLI"),
                                  layout=w.Layout(display="none", width="100%"))
        self.request_tabs.add_class("xacct-edit-request")
        self.message = w.HTML()
        self.message.add_class("xacct-edit-message")  # the browser test reads the outcome here
        self.attribute.observe(lambda _: self._on_attribute(), names="value")
        self.action.observe(lambda _: self._on_action(), names="value")
        for box in (self.type, self.value):
            box.observe(lambda _: self._withdraw(), names="value")
        self.add_button.on_click(lambda _: self.add_change())
        self.review_button.on_click(lambda _: self.review())
        self.confirm_button.on_click(lambda _: self.confirm())
        self.discard_button.on_click(lambda _: self.discard())
        self.reload_button.on_click(lambda _: self.reload())
        self.box = w.VBox([self.title, self.attribute, self.action, self.type, self.value,
                           w.HBox([self.add_button, self.review_button, self.confirm_button,
                                   self.discard_button, self.reload_button]),
                           self.pending_html, self.request_tabs, self.message],
                          layout=w.Layout(display="none", border="1px solid #c8c8d8", padding="4px"))
        self.box.add_class("xacct-edit")

    # -- what the panel calls ---------------------------------------------------------------------
    def grant(self, table: str) -> str | None:
        return self.grants.get(table)

    def show(self, table: str, item: dict[str, Any] | None, row: int | None) -> None:
        """The item view shows `item` of `table`: the editor appears only under an edit grant."""
        self.table, self.item, self.row = table, item, row
        self.pending, self.plan, self.message_text = [], None, None
        self.message.value = ""
        self.confirm_button.disabled = True  # nothing reviewed for this item yet
        self.request_tabs.layout.display = "none"
        if item is None or self.grant(table) not in EDIT_LEVELS:
            self.box.layout.display = "none"
            return
        where = f"{self.log.path}" if self.log else "(none: pass edit_log= to ExplorerPanel to edit)"
        key = ", ".join(f"{name}={value_text(item[name])[1]}" for name in self._key_names(table) if name in item)
        self.title.value = (f"<b>Edit this item</b> ({html.escape(key)}) — {html.escape(table)} is granted "
                            f"<b>{html.escape(str(self.grant(table)))}</b>. Review shows the exact request; "
                            "it is sent only on Confirm, and only if the item is still as read. "
                            f"Edits are logged to <code>{html.escape(where)}</code>.")
        self._filling = True
        try:
            self.attribute.options = [show_path(name) for name in item]
            self.attribute.value = ""
            self.action.value = "set"
            self.type.value, self.value.value = "auto", ""
        finally:
            self._filling = False
        self._sync()
        self.box.layout.display = None

    def _key_names(self, table: str) -> tuple[str, ...]:
        try:
            return self.panel._remote(table).describe().key.names
        except XacctError:
            return ()

    def hide(self) -> None:
        self.show(self.table or "", None, None)

    # -- the changes --------------------------------------------------------------------------------
    def current(self) -> SetValue | Remove | None:
        """The change the boxes hold now (None: no attribute typed). Raises a one-line error."""
        text = self.attribute.value.strip()
        if not text or text == _NEW:
            return None
        path = parse_path(text, field="Attribute")
        if self.action.value == "remove":
            return Remove(path)
        return SetValue.typed(path, self.value.value, self.type.value)

    def changes(self) -> list[SetValue | Remove]:
        current = self.current()
        return [*self.pending, *([current] if current is not None else [])]

    def add_change(self) -> None:
        try:
            change = self.current()
        except XacctError as err:
            self._say(str(err), error=True)
            return
        if change is None:
            self._say("type or pick an attribute first", error=True)
            return
        self.pending.append(change)
        self._filling = True
        try:
            self.attribute.value, self.value.value = "", ""
            self.type.value, self.action.value = "auto", "set"
        finally:
            self._filling = False
        self._withdraw()
        self._sync()

    def review(self) -> EditPlan | None:
        """Plan the changes: the exact request is shown and Confirm is enabled (or one red line)."""
        if self.item is None or self.table is None:
            return None
        self.plan = None
        self._withdraw()
        if self.log is None:  # the panel writes only what it can record
            self._say("no edit log: every write the panel sends is logged — pass edit_log= to "
                      "ExplorerPanel (notebook 03: runs/<env>/edits.jsonl)", error=True)
            return None
        try:
            remote = self.panel._remote(self.table)
            info = remote.describe()
            typed_keys = {name: ix.key.type_of(name) for ix in info.indexes for name in ix.key.names}
            plan = plan_update(remote.name, self.item, info.key, self.changes(), typed_keys=typed_keys)
        except XacctError as err:
            self._say(str(err), error=True)
            return None
        texts = (plan.request_json(), plan.cli(self.panel.cli_profile, self.panel.session.region_name))
        for box, text in zip(self.request_texts, texts):
            box.rows = min(16, text.count("\n") + 1)
            box.value = text
        self.request_tabs.selected_index = 0
        self.request_tabs.layout.display = None
        self.plan = plan
        self.confirm_button.disabled = False
        self._say(f"review: {plan.summary()} — Confirm sends exactly the request above")
        return plan

    def confirm(self) -> EditResult | None:
        """Send the reviewed request. Applied: the item view and the row show the item as DynamoDB
        returned it, the status line says where it was logged. Refused: one red line, nothing
        else changes."""
        plan = self.plan
        if plan is None or self.table is None:
            self._say("nothing reviewed: press Review first", error=True)
            return None
        self.confirm_button.disabled = True
        try:
            result = send(self.panel._remote(self.table), plan, log=self.log, grant=self.grant(self.table),
                          table=self.table)
        except XacctError as err:
            self.plan = None
            self._say(str(err), error=True)
            return None
        self.last = result
        table, row = self.table, self.row
        self.panel._edited(table, row, result)  # item view, row and status line
        self.show(table, result.item, row)  # the boxes start over from the item as it is now
        extra = (f" — ⚠ the item also differs from the plan in {', '.join(result.unexpected)}"
                 if result.unexpected else "")
        logged = f" (logged to {result.log})" if result.log else " (not logged: no edit log)"
        self._say(f"updated: {plan.summary()}{logged}{extra} — the item above is as DynamoDB returned it")
        return result

    def discard(self) -> None:
        self.pending = []
        self._filling = True
        try:
            self.attribute.value, self.value.value = "", ""
        finally:
            self._filling = False
        self._withdraw()
        self._sync()
        self._say("")

    def reload(self) -> None:
        """Read the item again and start over (after a refusal: see what changed, edit again)."""
        if self.row is not None:
            self.panel.view_item(self.row)

    # -- inside ------------------------------------------------------------------------------------
    def _on_attribute(self) -> None:
        """Picking an attribute puts its current value and type in the boxes, to edit."""
        if self._filling:
            return
        self._withdraw()
        current = self._current_value(self.attribute.value.strip())
        if current is not None and self.action.value == "set":
            type_, text = value_text(current)
            self._filling = True
            try:
                self.type.value, self.value.value = type_, text
                self.value.rows = min(12, text.count("\n") + 1)
            finally:
                self._filling = False

    def _current_value(self, text: str) -> dict[str, Any] | None:
        if not text or self.item is None:
            return None
        try:
            path: AttributePath = parse_path(text, field="Attribute")
        except XacctError:
            return None
        node: Any = {"M": self.item}
        for segment in (path,) if isinstance(path, str) else path:
            tag = "L" if isinstance(segment, int) else "M"
            inner = node.get(tag) if isinstance(node, dict) else None
            if inner is None:
                return None
            if isinstance(segment, int):
                if segment >= len(inner):
                    return None
                node = inner[segment]
            elif segment in inner:
                node = inner[segment]
            else:
                return None
        return node if isinstance(node, dict) else None

    def _on_action(self) -> None:
        self._sync()
        self._withdraw()

    def _sync(self) -> None:
        remove = self.action.value == "remove"
        self.type.layout.display = "none" if remove else None
        self.value.layout.display = "none" if remove else None
        lines = [f"{n + 1}. {html.escape(_describe(c))}" for n, c in enumerate(self.pending)]
        self.pending_html.value = ("<div>Changes kept for this request:<br>" + "<br>".join(lines) + "</div>"
                                   if lines else "")

    def _withdraw(self) -> None:
        """The boxes changed after Review: the request on screen is no longer what they say."""
        if self._filling:
            return
        if self.plan is not None:
            self.plan = None
            self._say("changed after Review — press Review again")
        self.confirm_button.disabled = True
        self.request_tabs.layout.display = "none"

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message_text = text or None
        style = "color:#b00" if error else "color:#264"
        kind = "xacct-edit-error" if error else "xacct-edit-note"
        self.message.value = f"<span class='{kind}' style='{style}'>{html.escape(text)}</span>" if text else ""


def _describe(change: SetValue | Remove) -> str:
    if isinstance(change, Remove):
        return f"remove {show_path(change.path)}"
    type_, text = value_text(change.value)
    text = " ".join(text.split())
    return f"set {show_path(change.path)} = {text[:60]}{'…' if len(text) > 60 else ''} ({type_})"


def _code_area() -> Any:
    import ipywidgets as w

    box = w.Textarea(layout=w.Layout(width="100%"))
    box.add_class("xacct-code-text")
    return box
