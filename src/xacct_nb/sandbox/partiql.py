"""What a PartiQL statement does to which table, as IAM authorises it (pure, no moto).

AWS authorises ExecuteStatement / BatchExecuteStatement / ExecuteTransaction per statement, as
`dynamodb:PartiQLSelect|PartiQLInsert|PartiQLUpdate|PartiQLDelete` on the table ARN (or the index
ARN for `SELECT … FROM "table"."index"`), not as `dynamodb:ExecuteStatement` on "*".
"""

from __future__ import annotations

import re

ACTIONS = {"SELECT": "PartiQLSelect", "INSERT": "PartiQLInsert", "UPDATE": "PartiQLUpdate",
           "DELETE": "PartiQLDelete"}
_NAME = r'(?:"(?P<{0}q>[^"]+)"|(?P<{0}b>[A-Za-z0-9_-]+))'
_TARGET = re.compile(
    r"^\s*(?P<verb>SELECT\b.*?\bFROM|DELETE\s+FROM|INSERT\s+INTO|UPDATE)\s+"
    + _NAME.format("table") + r"(?:\." + _NAME.format("index") + r")?",
    re.IGNORECASE | re.DOTALL)


def target(statement: str) -> tuple[str, str, str | None] | None:
    """(action without the `dynamodb:` prefix, table, index or None) — or None if unreadable."""
    match = _TARGET.match(statement)
    if not match:
        return None
    verb = match["verb"].split()[0].upper()
    table: str = match["tableq"] or match["tableb"]  # the pattern requires one of the two
    index = match["indexq"] or match["indexb"]
    return ACTIONS[verb], table, index


def statements(body: dict) -> list[str]:
    """Every statement of an ExecuteStatement, BatchExecuteStatement or ExecuteTransaction body."""
    if body.get("Statement"):
        return [body["Statement"]]
    listed = body.get("Statements") or body.get("TransactStatements") or []
    return [entry["Statement"] for entry in listed if isinstance(entry, dict) and entry.get("Statement")]
