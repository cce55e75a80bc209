"""The second converter, kept as a TEST ORACLE only: the typed Arrow table → pandas.

The package has one converter to pandas (:mod:`xacct_nb.dynamo.to_pandas`, working on each
page's *lossless* typed table). This is an independent implementation of the same dtype rules
working on the *default* typed table of a whole read instead
(:func:`xacct_nb.dynamo.arrow_parse.pages_to_arrow`, or a Parquet file read back): tests
compare the pipeline's frames with it (tests/test_arrow.py runs the converter's tests through
it), and read typed Parquet datasets back with it. Where it differs by design: inside
maps a NULL is an absent key, and nested numbers keep no written form (``"1E+2"`` → ``100``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xacct_nb.dynamo.arrow_types import DYNAMODB_JSON, ENCODING, FLOAT_EXACT, INTEGERS, NUMBER, SET
from xacct_nb.dynamo.convert import Numbers, Sets, deserialize_value
from xacct_nb.dynamo.to_pandas import DtypeBackend, pandas_options_problem

_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype


def arrow_to_pandas(
    table: pa.Table,
    *,
    dtype_backend: DtypeBackend | None = None,
    numbers: Numbers = "float",
    sets: Sets = "set",
) -> pd.DataFrame:
    """A typed table from :func:`pages_to_arrow` → DataFrame.

    ``dtype_backend=None``: :mod:`xacct_nb.dynamo.to_pandas`'s dtypes (``str``, ``Int64``, ``boolean``,
    ``float64`` when exact, else ``Decimal``/``int`` objects; binary, sets, maps and lists as
    Python objects). ``"numpy_nullable"``: pandas' nullable dtypes (``string``, ``Int64``,
    ``boolean``, ``Float64`` when exact) and the same objects otherwise. ``"pyarrow"``: every
    column ``pd.ArrowDtype`` of its Arrow type, zero-copy.
    """
    problem = pandas_options_problem(dtype_backend, numbers, sets)
    if problem:
        raise ValueError(problem)
    if dtype_backend == "pyarrow":
        return table.to_pandas(types_mapper=pd.ArrowDtype)
    data = {
        field.name: _pandas_column(table.column(i), field, dtype_backend, numbers, sets)
        for i, field in enumerate(table.schema)
    }
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows), columns=table.column_names,
                        copy=False)


def _pandas_column(
    column: pa.ChunkedArray, field: pa.Field, backend: str | None, numbers: Numbers, sets: Sets
) -> Any:
    metadata = field.metadata or {}
    type_ = field.type
    length = len(column)
    if NUMBER in metadata:
        return _pandas_numbers(column, metadata, backend, numbers)
    if pa.types.is_string(type_) and ENCODING not in metadata:
        dtype = pd.StringDtype("pyarrow") if backend == "numpy_nullable" else _STR_DTYPE
        return pd.arrays.ArrowStringArray(  # type: ignore[call-arg]  # pandas-stubs lag: dtype= exists
            column.cast(pa.large_string()), dtype=dtype)
    if pa.types.is_boolean(type_):
        values, mask = _masked(column, False)
        return pd.arrays.BooleanArray(values, mask)
    natural = list(chain.from_iterable(
        _natural_values(chunk, field, sets) for chunk in column.chunks))
    return _object_column(natural, length)


def _pandas_numbers(
    column: pa.ChunkedArray, metadata: Mapping[bytes, bytes], backend: str | None,
    numbers: Numbers,
) -> Any:
    if metadata[NUMBER] == b"int":
        return pd.arrays.IntegerArray(*_masked(column, 0))
    texts = _number_texts(column, metadata)
    if metadata[INTEGERS] == b"true":
        return _object_column((None if t is None else int(t) for t in texts.to_pylist()),
                              len(column))
    if numbers == "float" and metadata[FLOAT_EXACT] == b"true":
        floats = pc.cast(texts, pa.float64())
        if backend == "numpy_nullable":
            return pd.arrays.FloatingArray(*_masked(floats, 0.0))
        return floats.to_numpy()
    return _object_column((None if t is None else Decimal(t) for t in texts.to_pylist()),
                          len(column))


def _number_texts(column: pa.ChunkedArray | pa.Array, metadata: Mapping[bytes, bytes]) -> Any:
    """Exact number text; a decimal column's trailing zeros (from the common scale) removed."""
    if metadata[NUMBER] != b"decimal":
        return column.cast(pa.string())
    texts = pc.cast(column, pa.string())
    if column.type.scale == 0:
        return texts
    return pc.replace_substring_regex(texts, r"\.?0+$|(\.[0-9]*?)0+$", r"\1")


def _masked(column: pa.ChunkedArray | pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray]:
    """Values (missing replaced by ``fill``) and the missing mask, for pandas' masked arrays."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    mask = array.is_null().to_numpy(zero_copy_only=False)
    return array.fill_null(fill).to_numpy(zero_copy_only=False), mask


def _object_column(values: Iterable, length: int) -> pd.Series:
    return pd.Series(np.fromiter(values, dtype=object, count=length), dtype=object, copy=False)


def _natural_values(array: pa.Array, field: pa.Field, sets: Sets) -> list:
    """:mod:`xacct_nb.dynamo.to_pandas`'s natural Python values of one array (None for nulls).

    Column-wise like the converter: a struct's fields and a list's elements are converted as
    whole columns, then put together into dicts and lists.
    """
    metadata = field.metadata or {}
    type_ = field.type
    if metadata.get(ENCODING) == DYNAMODB_JSON:
        return [None if text is None else deserialize_value(json.loads(text), sets=sets)
                for text in array.to_pylist()]
    if NUMBER in metadata and metadata[NUMBER] != b"int":
        return [None if text is None else _natural_number(text)
                for text in _number_texts(array, metadata).to_pylist()]
    if pa.types.is_struct(type_):
        return _records(array, [_natural_values(child, f, sets)
                                for child, f in zip(array.flatten(), type_)])
    if pa.types.is_list(type_):
        return _lists(array, _natural_values(array.flatten(), type_.value_field, sets),
                      (set if sets == "set" else sorted) if SET in metadata else None)
    return array.to_pylist()


def _records(structs: pa.StructArray, columns: list[list]) -> list[Any]:
    names = tuple(f.name for f in structs.type)
    rows = zip(*columns)
    if not structs.null_count and not any(None in column for column in columns):
            return list(map(dict, map(zip, repeat(names), rows)))
    valid = structs.is_valid().to_pylist()
    # NULL and absent keys are both null in a struct: left out, as absent keys were
    return [{n: v for n, v in zip(names, row) if v is not None} if ok else None
            for ok, row in zip(valid, rows)]


def _lists(lists: pa.ListArray, elements: list, make: Any) -> list:
    ends = _rebased_offsets(lists).to_pylist()
    pieces = map(elements.__getitem__, map(slice, ends[:-1], ends[1:]))
    if make is not None:
        pieces = map(make, pieces)
    if not lists.null_count:
        return list(pieces)
    return [piece if ok else None for ok, piece in zip(lists.is_valid().to_pylist(), pieces)]


def _natural_number(text: str) -> int | Decimal:
    if "." in text or "e" in text or "E" in text:
        return Decimal(text)
    return int(text)


def _rebased_offsets(lists: pa.ListArray) -> pa.Array:
    offsets = lists.offsets
    first = offsets[0].as_py()
    return pc.subtract(offsets, first) if first else offsets
