"""Reading DynamoDB tables: describe → request → pages → columns → DataFrame → file.

    schema       KeySchema / IndexInfo / TableInfo: what DescribeTable says, shaped for readers
    expressions  names and values as placeholders; filter, projection and key wire forms
    reader       PageReader: one Scan/Query over segments, budgets, progress
    rawpages     raw Scan/Query page bodies (botocore's parser bypassed for speed)
    arrow        page bodies → tag structs (pyarrow.json); the typed Arrow table; Arrow → pandas
    frame        tag structs → typed pandas columns, page by page (the default frames)
    convert      single values ↔ Python, frames made writable as text
    table        RemoteTable, the public face of all of the above
    export       CSV / Parquet / JSON Lines files
"""

from .export import to_csv, to_jsonl, to_parquet, write_frame
from .schema import IndexInfo, KeySchema, TableInfo
from .table import FULL_SCAN_ITEM_LIMIT, RemoteTable, describe_all

__all__ = ["FULL_SCAN_ITEM_LIMIT", "IndexInfo", "KeySchema", "RemoteTable", "TableInfo",
           "describe_all", "to_csv", "to_jsonl", "to_parquet", "write_frame"]
