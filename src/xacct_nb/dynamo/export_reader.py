"""Reading DynamoDB's own table exports (``ExportTableToPointInTime``, format DYNAMODB_JSON) from S3.

AWS's layout under ``s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/`` (Developer Guide, "DynamoDB table
export output format"):

    manifest-summary.json   one JSON object: exportArn, exportType (FULL_EXPORT /
                            INCREMENTAL_EXPORT), itemCount, manifestFilesS3Key (a full key), ...
    manifest-files.json     one JSON object per line and data file: itemCount, md5Checksum (the
                            base64 MD5 of the .gz object as stored), etag, dataFileS3Key (full key)
    data/*.json.gz          gzip'd JSON Lines. Full export: ``{"Item": {...}}`` per line.
                            Incremental export: ``{"Metadata": {"WriteTimestampMicros": {"N": …}},
                            "Keys": {...}, "NewImage": {...}, "OldImage": {...}}`` per line, where a
                            deletion has no ``NewImage`` and ``OldImage`` appears only with the
                            NEW_AND_OLD_IMAGES view.

A full export reads into the frame :meth:`RemoteTable.scan` gives, by the same pipeline: each
data file parsed whole by ``pyarrow.json`` (:meth:`.arrow_parse.ArrowPages.parse_lines`, no Python
object per value) and converted by the same :class:`~xacct_nb.dynamo.to_pandas.FrameBuilder`, so
the same dtypes; an incremental export reads as change records (see :func:`read_export`). Every
data file's MD5 is checked against the manifest before a byte of it is used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import boto3
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from ..clients import make_client
from ..errors import AwsError, ExportChecksumError, InputError, XacctError, error_code, explain
from ..extras import require
from .arrow_parse import ArrowPages
from .convert import Numbers, Sets, deserialize_value
from .gcpause import gc_paused
from .to_pandas import FrameBuilder

__all__ = ["DataFile", "ExportChecksumError", "ExportManifest", "read_data", "read_export",
           "read_lines", "read_manifest", "split_export_url"]

Engine = Literal["pandas", "dask"]
FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
# Columns of an incremental export's change records, ahead of the key attributes.
CHANGE_COLUMNS = ("change", "write_timestamp_micros")


@dataclass(frozen=True)
class DataFile:
    """One line of ``manifest-files.json``."""

    key: str
    item_count: int
    md5: str


@dataclass(frozen=True)
class ExportManifest:
    bucket: str
    summary: Mapping[str, Any]
    files: tuple[DataFile, ...]

    @property
    def export_type(self) -> str:
        return str(self.summary.get("exportType") or FULL_EXPORT)

    @property
    def item_count(self) -> int:
        return sum(f.item_count for f in self.files)


def split_export_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/AWSDynamoDB/<id>/`` → (bucket, key prefix ending in ``/``)."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise InputError(f"export location {url!r} is not an s3:// URL — pass "
                         "s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ (xacct-nb export prints it)")
    bucket, _, key = url[len("s3://"):].partition("/")
    folder = key.rstrip("/")
    if not bucket or "/AWSDynamoDB/" not in f"/{folder}" or folder.endswith("AWSDynamoDB"):
        raise InputError(f"export location {url!r} does not name an export folder — pass "
                         "s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ (xacct-nb export prints it)")
    return bucket, folder + "/"


def read_manifest(s3: Any, bucket: str, folder: str) -> ExportManifest:
    """The export's two manifests; an export still running has none yet (a one-line error)."""
    summary = json.loads(_get(s3, bucket, folder + "manifest-summary.json",
                              missing="the export has no manifest-summary.json yet — wait until "
                                      "DescribeExport says COMPLETED (xacct-nb export --wait)"))
    files_key = str(summary.get("manifestFilesS3Key") or folder + "manifest-files.json")
    lines = _get(s3, bucket, files_key, missing="manifest-files.json is missing — the export "
                                                "is incomplete; export the table again")
    files = tuple(_data_file(json.loads(line)) for line in lines.decode("utf-8").splitlines()
                  if line.strip())
    return ExportManifest(bucket=bucket, summary=summary, files=files)


def _data_file(entry: Mapping[str, Any]) -> DataFile:
    return DataFile(key=str(entry["dataFileS3Key"]), item_count=int(entry.get("itemCount", 0)),
                    md5=str(entry["md5Checksum"]))


def _get(s3: Any, bucket: str, key: str, *, missing: str) -> bytes:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError) as err:
        if error_code(err) in {"NoSuchKey", "404"}:
            raise AwsError(f"s3://{bucket}/{key}: {missing}", "NoSuchKey") from err
        raise explain(err, f"reading s3://{bucket}/{key}",
                      "the reader needs s3:GetObject on the export prefix "
                      "(the spec's export section grants it to the analyst)") from err


def read_lines(s3: Any, bucket: str, data_file: DataFile) -> list[dict[str, Any]]:
    """One data file's JSON lines, after checking its MD5 against the manifest."""
    return _json_lines(read_data(s3, bucket, data_file))


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def read_data(s3: Any, bucket: str, data_file: DataFile) -> bytes:
    """One data file's JSON Lines as bytes (decompressed), after checking its MD5 against the
    manifest."""
    body = _get(s3, bucket, data_file.key,
                missing="a data file listed in manifest-files.json is missing — export again")
    actual = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")
    if actual != data_file.md5:
        raise ExportChecksumError(
            f"s3://{bucket}/{data_file.key}: MD5 {actual} differs from the manifest's "
            f"{data_file.md5} — the file is corrupt or was replaced; export the table again",
            "ChecksumMismatch")
    return gzip.decompress(body)


# ---------------------------------------------------------------------------------------------
# lines → frames


def _items_frame(files: Sequence[bytes], *, key_names: Sequence[str],
                 numbers: Numbers, sets: Sets, flatten_maps: bool) -> pd.DataFrame:
    """Full-export data files (JSON Lines of ``{"Item": …}``) → scan's frame: each file parsed
    by Arrow as a page is, converted by scan's converter."""
    builder = FrameBuilder(key_names=key_names, numbers=numbers, sets=sets,
                           flatten_maps=flatten_maps)
    parser = ArrowPages()  # one per read: it carries the attributes' types from file to file
    for data in files:
        builder.add_items(parser.parse_lines(data, "Item"))
    return builder.to_frame()


def _changes_frame(files: Sequence[bytes], *, key_names: Sequence[str],
                   numbers: Numbers, sets: Sets, flatten_maps: bool) -> pd.DataFrame:
    """Change records: ``change`` (insert_or_update / delete), ``write_timestamp_micros``, the key
    attributes (typed like scan's), then ``new_image`` and ``old_image`` as dicts of natural
    Python values (None when absent: a deletion has no new image)."""
    lines = [line for data in files for line in _json_lines(data)]
    names = list(key_names) or list(dict.fromkeys(n for line in lines for n in line["Keys"]))
    keys = FrameBuilder(key_names=names, numbers=numbers, sets=sets, flatten_maps=flatten_maps)
    keys.add_items([line["Keys"] for line in lines])
    frame = keys.to_frame()
    frame.insert(0, "write_timestamp_micros", pd.Series(
        [_micros(line.get("Metadata")) for line in lines], index=frame.index, dtype="Int64"))
    frame.insert(0, "change", pd.Series(
        ["delete" if "NewImage" not in line else "insert_or_update" for line in lines],
        index=frame.index, dtype="str"))
    for column, image in (("new_image", "NewImage"), ("old_image", "OldImage")):
        frame[column] = pd.Series([_image(line.get(image), sets) for line in lines], dtype=object)
    return frame


def _micros(metadata: Mapping[str, Any] | None) -> int | None:
    # AWS's examples show {"N": "…"}; a bare number or string is taken as well.
    stamp = (metadata or {}).get("WriteTimestampMicros")
    if isinstance(stamp, Mapping):
        stamp = stamp.get("N")
    return None if stamp is None else int(stamp)


def _image(image: Mapping[str, Any] | None, sets: Sets) -> dict[str, Any] | None:
    if image is None:
        return None
    return {name: deserialize_value(value, sets=sets) for name, value in image.items()}


def read_export(session: boto3.Session, url: str, *, engine: Engine = "pandas",
                key_names: Iterable[str] = (), numbers: Numbers = "float", sets: Sets = "set",
                flatten_maps: bool = False, credentials: Any = None) -> Any:
    """Read a DynamoDB export (DYNAMODB_JSON) from ``url`` = ``s3://bucket/prefix/AWSDynamoDB/ID/``.

    ``session`` must be allowed ``s3:GetObject`` on the export (the analyst, when the spec has an
    ``export`` section). Every data file's MD5 is checked first; a mismatch raises
    :class:`ExportChecksumError` (exit 1) and nothing is returned.

    Full export → the table as :meth:`RemoteTable.scan` would give it (same converter and
    options; rows in file order, not scan order — sort by the key to compare). ``key_names`` puts
    those columns first as scan does (the export does not record the key schema).

    Incremental export → one row per change: ``change`` (``insert_or_update`` or ``delete`` —
    a deletion carries no new image), ``write_timestamp_micros``, the key attributes, and
    ``new_image`` / ``old_image`` (dicts; ``old_image`` only with the NEW_AND_OLD_IMAGES view).

    ``engine="pandas"`` returns a DataFrame with ``attrs["xacct"]`` (export ARN, type, files,
    items). ``engine="dask"`` returns a ``dask.dataframe.DataFrame`` with one partition per data
    file and nothing read but the manifests and the first non-empty file (its frame is the
    meta); each partition is conformed to that meta's columns and dtypes, and a partition with
    an attribute the first file lacks raises — read such exports with ``engine="pandas"``.
    The dask tasks carry no secrets by default: each worker process opens its own S3 client from
    the session's recipe (profile, role) as :meth:`RemoteTable.to_dask` does; ``credentials``
    takes the same values as there (``"frozen"`` ships the current short-lived keys).
    """
    if engine not in ("pandas", "dask"):
        raise InputError(f"engine must be 'pandas' or 'dask', not {engine!r}")
    bucket, folder = split_export_url(url)
    s3 = make_client(session, "s3")
    manifest = read_manifest(s3, bucket, folder)
    convert = _converter(manifest, key_names=tuple(key_names), numbers=numbers, sets=sets,
                         flatten_maps=flatten_maps)
    if engine == "dask":
        from .distributed import worker_credentials

        return _dask_frame(s3, worker_credentials(session, credentials), manifest, convert)
    # As scan's read: no collections while millions of acyclic containers are built.
    with gc_paused():
        files = [read_data(s3, bucket, data_file) for data_file in manifest.files]
        frame = _converted(convert, files, url)
    frame.attrs["xacct"] = _stats(manifest, len(frame))
    return frame


def _converted(convert: Callable[[Sequence[bytes]], pd.DataFrame], files: Sequence[bytes],
               where: str) -> pd.DataFrame:
    """``convert(files)``; data that is not DynamoDB JSON Lines is a one-line AwsError."""
    try:
        return convert(files)
    except XacctError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise AwsError(f"{where}: the export's data is not DynamoDB JSON Lines ({err}) — export "
                       "the table again (format DYNAMODB_JSON)", "BadExportData") from None


def _converter(manifest: ExportManifest, **options: Any
               ) -> Callable[[Sequence[bytes]], pd.DataFrame]:
    export_type = manifest.export_type
    if export_type == FULL_EXPORT:
        return partial(_items_frame, **options)  # picklable: dask ships it to workers
    if export_type == INCREMENTAL_EXPORT:
        return partial(_changes_frame, **options)
    raise AwsError(f"s3://{manifest.bucket}: export type {export_type!r} is not one this reader "
                   f"knows ({FULL_EXPORT}, {INCREMENTAL_EXPORT})")


def _stats(manifest: ExportManifest, rows: int) -> dict[str, Any]:
    return {"export_arn": manifest.summary.get("exportArn"), "export_type": manifest.export_type,
            "files": len(manifest.files), "items": rows, "partial": False}


def _dask_frame(s3: Any, source: Any, manifest: ExportManifest,
                convert: Callable[[Sequence[bytes]], pd.DataFrame]) -> Any:
    require("dask", 'read_export(engine="dask")')
    import dask
    import dask.dataframe as dd  # optional dependency, imported only when asked for

    files = [f for f in manifest.files if f.item_count] or list(manifest.files[:1])
    if not files:
        return dd.from_pandas(convert([]), npartitions=1)
    first = files[0].key
    meta = _converted(convert, [read_data(s3, manifest.bucket, files[0])], first).iloc[:0]
    # Dask would turn object columns into strings (its "convert-string" option); ours hold
    # bytes, Decimals, sets and dicts as scan gives them.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(_PartitionReader(source, manifest, convert, meta), files, meta=meta,
                           enforce_metadata=False, label="read-export")


@dataclass(frozen=True)
class _PartitionReader:
    """One data file → one partition, conformed to the meta. ``source`` (an AssumeRecipe or
    FrozenCredentials) gives each worker process its own session: a client cannot be shipped."""

    source: Any
    manifest: ExportManifest
    convert: Callable[[Sequence[bytes]], pd.DataFrame]
    meta: pd.DataFrame

    def __call__(self, data_file: DataFile) -> pd.DataFrame:
        s3 = make_client(self.source.session(), "s3")
        with gc_paused():
            frame = _converted(self.convert, [read_data(s3, self.manifest.bucket, data_file)],
                               data_file.key)
        return _conformed(frame, self.meta, data_file.key)

    def __dask_tokenize__(self) -> str:
        # The export and its files' checksums identify the data.
        return hashlib.sha256(json.dumps([
            self.manifest.summary.get("exportArn"), [f.md5 for f in self.manifest.files],
            list(map(str, self.meta.dtypes)), list(map(str, self.meta.columns))]).encode()).hexdigest()


def _conformed(frame: pd.DataFrame, meta: pd.DataFrame, key: str) -> pd.DataFrame:
    """``frame`` with exactly ``meta``'s columns and dtypes (missing columns all NA)."""
    extra = [c for c in frame.columns if c not in meta.columns]
    if extra:
        raise InputError(f"{key}: attribute {extra[0]!r} is absent from the export's first data "
                         "file, so the dask meta lacks it — read this export with engine='pandas'")
    out = frame.reindex(columns=meta.columns)
    for name, dtype in meta.dtypes.items():
        if out[name].dtype != dtype:
            try:
                out[name] = out[name].astype(dtype)
            except (TypeError, ValueError, OverflowError):
                out[name] = out[name].astype(object)
    return out
