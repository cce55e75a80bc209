"""The grant as a picture: a Mermaid flowchart of a plan (pure: a `Plan` in, text out).

Consumer principals → the role (grant_mode role) or each table's resource policy
(grant_mode resource_policy) → the tables, each edge labelled with its access level; customer-
managed KMS keys and the export bucket where the plan has them. Nodes the plan changes are
highlighted (create green, update amber, delete red, dashed); the other mode's grant appears only
when the plan removes it (switching modes shows both halves). JupyterLab (≥ 4.1) renders it in a
Markdown cell or output: `markdown(plan)`. `picture(plan)` is the notebooks' output: that Markdown
for JupyterLab plus the same diagram drawn as SVG (`diagram_svg`) for the HTML records, which have no
Mermaid renderer and must read offline.
"""

from __future__ import annotations

from .provisioning.model import CHANGING, Change, Plan

__all__ = ["Picture", "diagram", "markdown", "picture"]

_CLASSES = {
    "create": "fill:#c6efce,stroke:#006100,color:#006100",
    "update": "fill:#ffeb9c,stroke:#9c5700,color:#9c5700",
    "delete": "fill:#ffc7ce,stroke:#9c0006,color:#9c0006,stroke-dasharray:5",
}
_RANK = {"delete": 3, "create": 2, "update": 1}


def _label(text: str) -> str:
    """A quoted Mermaid label: quotes and angle brackets written as entities."""
    return '"' + text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") + '"'


def _action(changes: list[Change]) -> str | None:
    """The most telling change among a node's rows (a delete beats a create beats an update)."""
    found = [c.action for c in changes if c.action in CHANGING]
    return max(found, key=_RANK.__getitem__) if found else None


def diagram(plan: Plan) -> str:
    """Every consumer of the spec (a `consumers:` list draws one principal — and in role mode one
    role — per consumer, each edge at that consumer's level; a consumer the plan removes is drawn
    deleted)."""
    spec = plan.spec
    subs = spec.consumer_specs
    multi = bool(spec.consumers)
    lines = ["flowchart LR"]
    classes: dict[str, str] = {}
    rows = list(plan.changes)

    def rows_named(resource: tuple[str, ...], name: str) -> list[Change]:
        return [c for c in rows if c.resource in resource and c.name.split(" ")[0] == name]

    def role_node(k: int) -> str:
        return "G" if k == 0 else f"G{k}"

    for k, sub in enumerate(subs):
        kind, name = sub.principal_kind, sub.principal_name
        lines.append(f"  P{k}([{_label(f'{kind}/{name} · consumer {sub.consumer_account_id}')}])")
        consumer_policy = rows_named(("policy", "attachment", "policy-version"),
                                     sub.grant_policy_name if sub.uses_resource_policy else sub.consumer_policy_name)
        if _action(consumer_policy):
            classes[f"P{k}"] = _action(consumer_policy) or ""
    if spec.organization_id and spec.uses_resource_policy:
        lines.append(f"  O0([{_label(f'every principal of organization {spec.organization_id}')}])")
    rp_rows = [c for c in rows if c.resource == "resource-policy"]
    role_names = {sub.role_name for sub in subs}
    role_rows = [c for c in rows if c.name in role_names and c.resource in ("role", "trust-policy")]
    show_rp = spec.uses_resource_policy or any(c.action in CHANGING for c in rp_rows)
    show_role = not spec.uses_resource_policy or any(c.action in CHANGING for c in role_rows)
    for i, table in enumerate(spec.table_access_list):
        node = f"T{i}"
        lines.append(f"  {node}[({_label(f'{table.table_name} · main {spec.main_account_id}')})]")
        granted = [(k, t.access_type) for k, sub in enumerate(subs)
                   for t in sub.table_access_list if t.table_name == table.table_name]
        if show_rp:
            policy_node = f"R{i}"
            lines.append(f"  {policy_node}{{{{{_label(f'resource policy of {table.table_name}')}}}}}")
            if multi:
                lines += [f"  P{k} -->|{_label(level)}| {policy_node}" for k, level in granted]
                lines.append(f"  {policy_node} --> {node}")
            else:
                lines.append(f"  P0 -->|{_label(table.access_type)}| {policy_node} --> {node}")
            if spec.organization_id and spec.uses_resource_policy:
                lines.append(f"  O0 -->|{_label(table.access_type)}| {policy_node}")
            action = _action(rows_named(("resource-policy", "stream-policy"), table.table_name))
            if action:
                classes[policy_node] = action
        if show_role:
            for k, level in granted:
                action = _action(rows_named(("policy", "policy-version", "attachment"),
                                            subs[k].table_policy_name(table.table_name)))
                lines.append(f"  {role_node(k)} -->|{_label(level)}| {node}")
                if action and not spec.uses_resource_policy:  # the table's policy on the role, not the table
                    classes[node] = max(action, classes.get(node, action), key=_RANK.__getitem__)
    if show_role:
        for k, sub in reversed(list(enumerate(subs))):
            lines.insert(1 + len(subs), f"  {role_node(k)}[{_label(f'role {sub.role_name}')}]")
            lines.insert(2 + len(subs), f"  P{k} -->|{_label('sts:AssumeRole')}| {role_node(k)}")
            action = _action([c for c in role_rows if c.name == sub.role_name])
            if action:
                classes[role_node(k)] = action
    # Consumers the plan removes (no longer in the list): their roles, drawn deleted.
    gone = sorted({c.name for c in rows if c.resource == "role" and c.action == "delete"} - role_names)
    for j, name in enumerate(gone):
        lines.append(f"  X{j}[{_label(f'role {name} (consumer removed)')}]")
        classes[f"X{j}"] = "delete"
    for j, change in enumerate(c for c in rows if c.resource == "kms-key"):
        key_table, _, key = change.name.partition(" ")
        if key_table in spec.table_names:
            i = spec.table_names.index(key_table)
            key_label = _label("KMS key " + key.rsplit("/", 1)[-1])
            lines.append(f"  K{j}{{{{{key_label}}}}}")
            lines.append(f"  T{i} -.->|{_label('kms:Decrypt via DynamoDB')}| K{j}")
            if change.action == "left-alone":
                classes[f"K{j}"] = "update"
    # manage_key_policy: one key-policy row per key, named "KEY_ARN (table, table)"; highlighted
    # when the plan writes our statement there
    for j, change in enumerate(c for c in rows if c.resource == "key-policy"):
        key, _, tables = change.name.partition(" (")
        node, edge = f"KP{j}", _label("kms:Decrypt via DynamoDB")
        lines.append(f"  {node}{{{{{_label('KMS key ' + key.rsplit('/', 1)[-1])}}}}}")
        for key_table in tables.rstrip(")").split(", "):
            if key_table in spec.table_names:
                lines.append(f"  T{spec.table_names.index(key_table)} -.->|{edge}| {node}")
        if change.action in CHANGING:
            classes[node] = change.action
    if spec.export is not None:
        lines.append(f"  B0[/{_label(f's3://{spec.export.bucket}/{spec.export.prefix}/')}/]")
        lines.append(f"  G -.->|{_label('exports')}| B0")
        action = _action([c for c in rows if c.resource == "bucket-policy"])
        if action:
            classes["B0"] = action
    for action, style in _CLASSES.items():
        nodes = sorted(n for n, a in classes.items() if a == action)
        if nodes:
            lines.append(f"  classDef {action} {style}")
            lines.append(f"  class {','.join(nodes)} {action}")
    return "\n".join(lines)


def markdown(plan: Plan) -> str:
    """The diagram as a Markdown fenced block, which JupyterLab renders as a picture."""
    return f"```mermaid\n{diagram(plan)}\n```"


_MEANING = {"create": "green: created by this plan", "update": "amber: changed by this plan",
            "delete": "red, dashed: removed by this plan"}


class Picture:
    """A diagram as a notebook output: JupyterLab shows the Mermaid block (text/markdown ranks
    above image/svg+xml there), the HTML record the SVG (runbook's exporter ranks SVG first)."""

    def __init__(self, mermaid: str):
        self.mermaid = mermaid

    def svg(self) -> str | None:
        from .diagram_svg import render

        try:
            return render(self.mermaid)
        except ValueError:  # a form the SVG drawer does not know: the record shows the source instead
            return None

    def markdown(self) -> str:
        lines = self.mermaid.splitlines()
        used = [meaning for action, meaning in _MEANING.items()
                if any(line.startswith("  class ") and line.endswith(f" {action}") for line in lines)]
        legend = f"\n\n*{' · '.join(used)}*" if used else ""
        return f"```mermaid\n{self.mermaid}\n```{legend}"

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        bundle = {"text/markdown": self.markdown(), "text/plain": self.mermaid}
        svg = self.svg()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle


def picture(plan: Plan) -> Picture:
    """The plan's diagram as a notebook output (see :class:`Picture`)."""
    return Picture(diagram(plan))
