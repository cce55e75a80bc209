"""Reading DynamoDB tables: one pipeline, describe → request → pages → Arrow → DataFrame → file.

    RemoteTable.scan/query ─ ReadOptions ─▶ PageReader ─ raw bodies ─▶ ArrowPages (pyarrow.json)
        ─ tag structs ─▶ typed_table (arrow_types): THE typed Arrow table, the only intermediate
            ├─ per page, lossless (NULL markers in maps, number text) ─▶ FrameBuilder
            │     (to_pandas): every DataFrame — default and numpy_nullable dtypes, iter_pages,
            │     Dask partitions and their meta, export reads
            └─ whole read ─▶ to_arrow, Parquet (parquet), dtype_backend="pyarrow" (to_pandas)

Where things live (every module of the package):

    table          RemoteTable, the public face: describe, scan, query, get, iter_pages,
                   to_arrow, to_dask, call
    read_options   ReadOptions (one read's options, frozen, checked once), ProjectionWarning
    table_errors   a failed call → one-line error naming the fix
    schema         KeySchema / IndexInfo / TableInfo: what DescribeTable says, shaped for readers
    expressions    names and values as placeholders; filter, projection and key wire forms
    reader         PageReader: one Scan/Query over segments, budgets, progress
    rawpages       raw Scan/Query page bodies (botocore's parser bypassed for speed), checked
    arrow_parse    parsing: page bodies → tag structs (pyarrow.json), ArrowItems, ArrowPages
    arrow_types    typing: tag structs → the typed Arrow table (int64, decimal128, structs...)
    to_pandas      conversion: typed tables → pandas (FrameBuilder), the only converter
    parquet        the typed table as a Parquet file; a read's stats in its metadata
    convert        single wire values ↔ Python (deserialize_value, to_wire, key_to_wire)
    _wire          private: the type tags and the number rules (when a number may be a float),
                   once, for all of the above
    gcpause        the garbage collector paused while many acyclic containers are built
    writers        a frame → CSV / Parquet / JSON Lines file (write_frame, frame_for_export)
    export_job     starts a DynamoDB export to S3 (ExportTableToPointInTime) and waits for it
    export_reader  reads such an export back (read_export): manifests, MD5s, the same converter
    distributed    Dask: to_dask's partitions, worker credentials (AssumeRecipe), Parquet
                   dataset schema unification (the CLI's --dask lives in xacct_nb.cli_dask)

Dependencies point one way: table → distributed (never back), table → to_pandas/arrow_* →
_wire. No underscore name is imported across modules (tests/test_architecture.py).
More in docs/architecture.md.
"""

from .schema import IndexInfo, KeySchema, TableInfo
from .table import FULL_SCAN_ITEM_LIMIT, RemoteTable, describe_all
from .writers import to_csv, to_jsonl, to_parquet, write_frame

__all__ = ["FULL_SCAN_ITEM_LIMIT", "IndexInfo", "KeySchema", "RemoteTable", "TableInfo",
           "describe_all", "to_csv", "to_jsonl", "to_parquet", "write_frame"]
