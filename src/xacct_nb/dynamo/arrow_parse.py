"""DynamoDB wire JSON page bodies → parsed Arrow items, in native code (no Python object per value).

Each Scan/Query response body (``{"Items": [...], "Count": .., "LastEvaluatedKey": ..}``) is
handed whole to ``pyarrow.json.read_json`` as one record: ``Items`` comes out as a list of
structs, each attribute a struct of its type tags (``struct<S: string, N: string, ...>``). DynamoDB
sends numbers as strings, so ``N`` stays exact text. Arrow's reader would turn date-like strings
into ``timestamp[s]`` (losing their exact text), so every page is parsed with the schema seen so
far, timestamps replaced by strings, and a page that still infers a timestamp for a new attribute
is parsed again with the corrected schema (once per new date-like attribute, not per page).

The envelope (``Count``, ``LastEvaluatedKey``...) is read without parsing the items, so the
reader can ask for the next page while this one's items are parsed (:class:`ArrowItems` parses
on first use). :meth:`ArrowPages.table` types every page kept at the end
(:func:`.arrow_types.typed_table`); :mod:`.to_pandas` converts the parsed items page by page.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

import pyarrow as pa
import pyarrow.json as pj

from ._wire import TAG_PATTERN, wire_value
from .arrow_types import concat_items, typed_table

__all__ = ["SCHEMA_SAMPLE_BYTES", "ArrowItems", "ArrowPages", "pages_to_arrow"]


class ArrowItems(Sequence[dict]):
    """One page's items as Arrow parses them: a length, slices, and one item's wire form.

    What the reader needs of a page besides its columns: how many items, the first N of them
    (a read cut at ``max_items``), and the last kept item's key attributes to resume after.
    Built from a parsed array, or from a parser and the page's ``Count``: then the body is
    parsed on first use of :attr:`array` — on the caller's thread, while the fetching thread
    already asks for the next page (``len()`` needs no parse).
    """

    def __init__(self, source: pa.StructArray | Callable[[], pa.StructArray],
                 count: int | None = None):
        self._source = source
        self._count = count

    @property
    def array(self) -> pa.StructArray:
        if callable(self._source):
            array = self._source()
            if self._count is not None and len(array) != self._count:
                raise ValueError(f"not a DynamoDB Scan/Query response body: Count says "
                                 f"{self._count}, Items holds {len(array)}")
            self._source = array
        return self._source

    def __len__(self) -> int:
        return self._count if callable(self._source) and self._count is not None \
            else len(self.array)

    @overload
    def __getitem__(self, index: int) -> dict: ...

    @overload
    def __getitem__(self, index: slice) -> ArrowItems: ...

    def __getitem__(self, index: int | slice) -> dict | ArrowItems:
        if isinstance(index, slice):
            return ArrowItems(self.array[index])
        item = self.array[index].as_py()  # absent attributes and tags are None here
        return {name: wire_value(tag_struct) for name, tag_struct in item.items()
                if tag_struct is not None}


class ArrowPages:
    """Parses page bodies as they arrive; :meth:`table` converts them all at the end.

    Only the parsed Arrow pages are kept (not the bodies): the final types are decided once,
    over every row, so a column's numbers, maps and lists get one type for the whole read.
    :meth:`parse` may run on fetching threads while :meth:`add_items` runs on the caller's.
    """

    def __init__(self) -> None:
        self._items: list[pa.StructArray] = []
        # attributes seen so far, without timestamp/null types: the next page's parse schema
        self._schema: pa.StructType | None = None
        self.rows = 0

    def add(self, body: bytes) -> dict[str, Any]:
        """:meth:`parse` one body and keep all its items."""
        page = self.parse(body)
        self.add_items(page["Items"])
        return page

    def parse(self, body: bytes) -> dict[str, Any]:
        """One Scan/Query response body → the page as :mod:`xacct_nb.rawpages` gives it.

        ``Items`` is an :class:`ArrowItems`; ``Count``, ``ScannedCount``,
        ``LastEvaluatedKey`` (in the client's input form: B as bytes) and
        ``ConsumedCapacity`` are there when the server sent them.
        """
        found = _envelope(body)
        if found is not None and isinstance(found[0].get("Count"), int):
            envelope = found[0]
            return {"Items": ArrowItems(lambda: self._items_of(self._parse(body)),
                                        envelope["Count"]),
                    **_page_fields(envelope)}
        parsed = self._parse(body)  # an unusual layout: everything from Arrow's parse
        return {"Items": ArrowItems(self._items_of(parsed)),
                **_page_fields({name: parsed.column(name)[0].as_py()
                                for name in _ENVELOPE if parsed.schema.get_field_index(name) >= 0})}

    @staticmethod
    def _items_of(parsed: pa.Table) -> pa.StructArray:
        items = parsed.column("Items").chunk(0)
        if isinstance(items.type, pa.ListType) and pa.types.is_struct(items.type.value_type):
            return items.flatten()
        return pa.array([], pa.struct([]))  # an empty page: Arrow saw no item to type

    def add_items(self, items: ArrowItems) -> None:
        """Keep these items (a parsed page, or the first part of one)."""
        if len(items):
            self._items.append(items.array)
            self.rows += len(items)

    def parse_lines(self, data: bytes, field: str = "Item") -> ArrowItems:
        """JSON Lines of records ``{field: {attribute: {tag: value}}}`` — a DynamoDB export's
        data file (``field="Item"``) — → the items under ``field``, parsed as a page's are (in
        native code, the schema carried from file to file, date-like text kept as text)."""
        if not data.strip():
            return ArrowItems(pa.array([], pa.struct([])))
        if self._schema is None and len(data) > 2 * SCHEMA_SAMPLE_BYTES:
            # as a large first page's: the first lines' schema first, so a date-like attribute
            # costs a second parse of this sample only, not of the whole file
            cut = data.find(b"\n", SCHEMA_SAMPLE_BYTES)
            if cut > 0:
                self.parse_lines(data[:cut + 1], field)
        parsed = _read_lines(data, field, self._schema)
        item_type = _field_type(parsed, field)
        if item_type is not None and _has_timestamp(item_type):
            parsed = _read_lines(data, field, _sanitized(item_type))
            item_type = _field_type(parsed, field)
        if item_type is not None:
            self._schema = _sanitized(item_type)
        items = parsed.column(field).combine_chunks()
        if items.null_count:
            raise ValueError(f"not a DynamoDB export data file: a line has no {field!r}")
        if not pa.types.is_struct(items.type):
            raise ValueError(f"not a DynamoDB export data file: {field!r} holds {items.type}")
        return ArrowItems(items)

    def _parse(self, body: bytes) -> pa.Table:
        if self._schema is None and len(body) > 2 * SCHEMA_SAMPLE_BYTES:
            self._learn_schema(body)
        return self._parse_with_schema(body)

    def _parse_with_schema(self, body: bytes) -> pa.Table:
        page = _read_json(body, self._schema)
        item_type = _item_type(page)
        if item_type is not None and _has_timestamp(item_type):
            page = _read_json(body, _sanitized(item_type))
            item_type = _item_type(page)
        if item_type is not None:
            self._schema = _sanitized(item_type)
        return page

    def _learn_schema(self, body: bytes) -> None:
        """The schema of the first items of a large first page: should one of them look like a
        date, only this sample is parsed twice, not the whole page (a date-like attribute seen
        first further on still costs its page a second parse)."""
        found = _envelope(body)
        if found is None:
            return
        start, end = found[1]
        cut = _ITEM_START.search(body, start + SCHEMA_SAMPLE_BYTES, end)
        if cut is None:
            return
        try:
            self._parse_with_schema(b'{"Items":[' + body[start:cut.start() + 1] + b"]}")
        except ValueError:  # the cut was inside an item: learn from the whole page instead
            return

    def table(self, *, key_names: Iterable[str] = (), explicit_nulls: bool = False) -> pa.Table:
        """The typed table of every item added so far (see the module docstring)."""
        raw = concat_items(self._items)
        self._items = [raw] if len(raw) else []  # the pages' own arrays are freed now
        return typed_table(raw, key_names=key_names, explicit_nulls=explicit_nulls)


def pages_to_arrow(
    bodies: Iterable[bytes], *, key_names: Iterable[str] = (), explicit_nulls: bool = False
) -> pa.Table:
    """Scan/Query response bodies (raw JSON bytes) → one typed ``pyarrow.Table``."""
    pages = ArrowPages()
    for body in bodies:
        pages.add(body)
    return pages.table(key_names=key_names, explicit_nulls=explicit_nulls)


def _read_json(body: bytes, item_schema: pa.StructType | None) -> pa.Table:
    # Raw newlines can only be whitespace between tokens (JSON escapes them inside strings),
    # and the reader splits records at newlines: one page must stay one record.
    if b"\n" in body:
        body = body.replace(b"\n", b" ")
    parse = None
    if item_schema is not None:
        parse = pj.ParseOptions(
            explicit_schema=pa.schema([pa.field("Items", pa.list_(item_schema))]),
            unexpected_field_behavior="infer",
        )
    read = pj.ReadOptions(use_threads=False, block_size=len(body) + 1)
    try:
        return pj.read_json(io.BytesIO(body), read_options=read, parse_options=parse)
    except pa.ArrowInvalid as err:
        raise ValueError(f"not a DynamoDB Scan/Query response body: {err}") from None


def _read_lines(data: bytes, field: str, item_schema: pa.StructType | None) -> pa.Table:
    parse = None
    if item_schema is not None:
        parse = pj.ParseOptions(explicit_schema=pa.schema([pa.field(field, item_schema)]),
                                unexpected_field_behavior="infer")
    # One block: Arrow infers each block's types on its own, and blocks that disagree fail.
    read = pj.ReadOptions(use_threads=False, block_size=len(data) + 1)
    try:
        return pj.read_json(io.BytesIO(data), read_options=read, parse_options=parse)
    except pa.ArrowInvalid as err:
        raise ValueError(f"not a DynamoDB export data file: {err}") from None


def _field_type(parsed: pa.Table, field: str) -> pa.StructType | None:
    if parsed.schema.get_field_index(field) < 0:
        raise ValueError(f"not a DynamoDB export data file: its lines have no {field!r}")
    type_ = parsed.schema.field(field).type
    return type_ if pa.types.is_struct(type_) else None


def _item_type(page: pa.Table) -> pa.StructType | None:
    if page.schema.get_field_index("Items") < 0:
        raise ValueError("not a DynamoDB Scan/Query response body: it has no Items")
    items = page.schema.field("Items").type
    if isinstance(items, pa.ListType) and pa.types.is_struct(items.value_type):
        return items.value_type
    return None


def _has_timestamp(type_: pa.DataType) -> bool:
    if pa.types.is_timestamp(type_):
        return True
    if pa.types.is_struct(type_):
        return any(_has_timestamp(f.type) for f in type_)
    if pa.types.is_list(type_):
        return _has_timestamp(type_.value_type)
    return False


def _sanitized(type_: pa.DataType) -> pa.DataType | None:
    """The type to parse later pages with: strings for timestamps; null types left to inference."""
    if pa.types.is_timestamp(type_):
        return pa.string()
    if pa.types.is_null(type_):
        return None
    if pa.types.is_struct(type_):
        fields = [pa.field(f.name, t) for f in type_ if (t := _sanitized(f.type)) is not None]
        return pa.struct(fields) if fields else None
    if pa.types.is_list(type_):
        value = _sanitized(type_.value_type)
        return pa.list_(value) if value is not None else None
    return type_


_ENVELOPE = ("Count", "ScannedCount", "LastEvaluatedKey", "ConsumedCapacity")
_ITEMS_START = re.compile(rb'"Items"\s*:\s*\[')
_TAIL_CANDIDATES = 32
# The first page's schema is inferred from about this much of it (see ArrowPages._learn_schema).
SCHEMA_SAMPLE_BYTES = 64 * 1024
# "}" "," then an object whose first member is a name and a type-tag object: how an item follows
# another in Items. It cannot start inside a string (after a string's closing quote comes ":",
# ",", "}" or "]", never a tag's letter); inside an item it matches only a list of maps whose
# first key is named like a type tag, and the sample then ends inside an item: it fails to parse.
_ITEM_START = re.compile(
    rb'\}\s*,\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{\s*"(?:' + TAG_PATTERN.encode() + rb')"\s*:')


def _envelope(body: bytes) -> tuple[dict[str, Any], tuple[int, int]] | None:
    """The page's fields besides ``Items``, read without parsing the items, and where the inside
    of the ``Items`` array starts and ends in ``body`` (None if unsure).

    ``"Items":[`` can only be the top-level key (an attribute value is an object, and quotes
    inside strings are escaped). Its array ends at the last ``]`` after which the rest is a
    valid JSON object tail of envelope keys only: a ``]`` inside a later string cannot be
    followed by one (the string's own closing quote comes first).
    """
    start = _ITEMS_START.search(body)
    if start is None:
        return None
    try:
        head = json.loads(body[: start.start()].rstrip().rstrip(b",") + b"}")
    except ValueError:
        return None
    end = len(body)
    for _ in range(_TAIL_CANDIDATES):
        end = body.rfind(b"]", start.end() - 1, end)
        if end < 0:
            return None
        rest = body[end + 1:].strip()
        try:
            if rest == b"}":
                tail: Any = {}
            elif rest.startswith(b","):
                tail = json.loads(b"{" + rest[1:])
            else:
                continue
        except ValueError:
            continue
        if isinstance(head, dict) and isinstance(tail, dict) and set(head) | set(tail) <= \
                set(_ENVELOPE):
            return {**head, **tail}, (start.end(), end)
    return None


def _page_fields(envelope: Mapping[str, Any]) -> dict[str, Any]:
    fields = {}
    for name in _ENVELOPE:
        value = envelope.get(name)
        if value is not None:
            fields[name] = _strip_nones(value)
    if fields.get("LastEvaluatedKey"):  # the client's input form: B as bytes (botocore encodes)
        fields["LastEvaluatedKey"] = {
            name: _key_value(value) for name, value in fields["LastEvaluatedKey"].items()}
    return fields


def _key_value(value: Mapping[str, Any]) -> dict[str, Any]:
    ((tag, payload),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(payload)}
    return {tag: payload}


def _strip_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nones(v) for v in value]
    return value
