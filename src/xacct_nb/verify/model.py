"""The access matrix: what each level must allow, the cells, the verdict and how it is shown."""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..errors import VerificationFailed

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

OPERATIONS = ("describe", "get", "query", "scan", "query_index", "write", "delete", "admin")
_READS = frozenset(OPERATIONS[:5])
# What each level must allow — written out here, NOT derived from policies.ACTIONS, so that a
# wrong policy document shows up as a FAIL instead of silently moving the expectation with it.
EXPECTED_ALLOWED: dict[str, frozenset[str]] = {
    "Read": _READS,
    "ReadWriteUpdate": _READS | {"write"},
    "Full": frozenset(OPERATIONS),
}
PROBES: dict[str, str] = {
    "describe": "DescribeTable",
    "get": "GetItem of the probe key",
    "query": "Query on the partition key = probe value, Select=COUNT, Limit=1",
    "scan": "Scan Select=COUNT, Limit=1",
    "query_index": "Query on the first secondary index, Select=COUNT, Limit=1",
    "write": "PutItem + UpdateItem of the probe key with an impossible condition",
    "delete": "DeleteItem of the probe key with an impossible condition",
    "admin": "UpdateTable to the billing mode the table already has (DeleteTable is never sent)",
}
RESULTS = ("PASS", "FAIL", "SKIPPED")
COLUMNS = ("target", "check", "access", "expected", "actual", "result", "detail")
ROLE = "role"                 # target of the trust checks
NOT_GRANTED = "not granted"   # access of a table that is not in the spec
_STYLES = {
    "PASS": "background-color: #c6efce; color: #006100",
    "FAIL": "background-color: #ffc7ce; color: #9c0006",
    "SKIPPED": "background-color: #e7e6e6; color: #595959",
}

logger = logging.getLogger(__name__)



class Outcome(NamedTuple):
    actual: str
    detail: str = ""




# ---------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class Cell:
    """One check: `target` is a table name or "role"; `check` an operation or a trust check."""

    target: str
    check: str
    access: str     # the table's access level, "not granted", or "trust"
    expected: str   # allowed | denied | n/a
    actual: str     # allowed | denied | mixed | error | skipped | n/a | document-checked | document-differs
    result: str     # PASS | FAIL | SKIPPED
    detail: str = ""


@dataclass(frozen=True)
class AccessMatrix:
    env: str
    role_arn: str
    cells: tuple[Cell, ...]

    @property
    def failures(self) -> list[Cell]:
        return [c for c in self.cells if c.result == "FAIL"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def cell(self, target: str, check: str) -> Cell:
        for c in self.cells:
            if (c.target, c.check) == (target, check):
                return c
        raise KeyError((target, check))

    def summary(self) -> dict[str, int]:
        counts = {result: sum(c.result == result for c in self.cells) for result in RESULTS}
        counts["document-checked"] = sum(c.actual == "document-checked" for c in self.cells)
        counts["total"] = len(self.cells)
        return counts

    def headline(self) -> str:
        s = self.summary()
        verdict = "OK" if self.ok else "FAILED"
        return (f"Access verification of env {self.env} ({self.role_arn}): {verdict} — "
                f"{s['PASS']} PASS, {s['FAIL']} FAIL, {s['SKIPPED']} SKIPPED")

    def frame(self) -> pd.DataFrame:
        import pandas as pd  # here, not at import: the CLI does not pay for pandas until it renders

        return pd.DataFrame([asdict(c) for c in self.cells], columns=list(COLUMNS))

    def styled(self) -> Styler:
        """The frame coloured by result (green PASS, red FAIL, grey SKIPPED), for notebooks."""
        return (self.frame().style
                .apply(lambda row: [_STYLES[row["result"]]] * len(row), axis=1)
                .set_properties(None, **{"text-align": "left"})
                .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
                .set_caption(html.escape(self.headline()))
                .hide(axis="index"))

    def _repr_html_(self) -> str:
        return self.styled().to_html()

    def text(self) -> str:
        rows = [tuple(c.upper() for c in COLUMNS)] + [tuple(asdict(c).values()) for c in self.cells]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
        lines = [("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]
        return "\n".join([self.headline(), *lines])

    __str__ = text

    def assert_ok(self) -> AccessMatrix:
        """Raise `VerificationFailed` listing the failing cells (a papermill run then fails)."""
        if not self.ok:
            raise VerificationFailed(self)
        return self


def cell(target: str, check: str, access: str, expected: str, outcome: Outcome) -> Cell:
    return Cell(target, check, access, expected, outcome.actual, _judge(expected, outcome.actual),
                outcome.detail)


def _judge(expected: str, actual: str) -> str:
    if actual in ("skipped", "n/a"):
        return "SKIPPED"
    if actual == "document-checked":
        return "PASS"
    return "PASS" if actual == expected else "FAIL"


