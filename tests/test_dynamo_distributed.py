"""RemoteTable.to_dask and `xacct-nb scan --dask` on a real 2-worker LocalCluster (worker
processes) against the sandbox: equality with scan, credentials on the workers (recipe and frozen,
no secrets in the graph), a worker killed mid-read, the CLI's partitioned Parquet dataset.

One cluster for the module, started after the world's AWS config files are in the environment
(worker processes inherit it, and open the profile themselves).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import time
from decimal import Decimal
from types import SimpleNamespace

import cloudpickle
import dask  # noqa: F401  (the `dask` extra, which the test extra installs: fail loudly without it)
import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import CONSUMER, MAIN, allow, consumer_world, doc, read_params, role_arn, trust
from xacct_nb import RemoteTable, cli_dask
from xacct_nb.cli import main as cli_main
from xacct_nb.dynamo import distributed
from xacct_nb.dynamo.distributed import AssumeRecipe, FrozenCredentials, conform
from xacct_nb.dynamo.reader import QUIET_ENV
from xacct_nb.errors import CredentialsExpired, InputError
from xacct_nb.policies import READ_ACTIONS
from xacct_nb.spec import role_name

TABLE = "dasktest-items"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{MAIN}:table/{TABLE}"
PROFILE = "dasktest-user"
ENV = "dasktest"
N_ITEMS = 160
KEYS = ["pk", "sk"]


def item(i: int) -> dict:
    """Wire item i: most types, sparse attributes, and a column whose kind of number changes."""
    it = {"pk": {"S": f"P{i % 5}"}, "sk": {"N": str(i)},
          "name": {"S": ("Olena", "João", "東京", "")[i % 4]},
          "amount": {"N": f"{i}.5"}, "flag": {"BOOL": i % 2 == 0},
          "doc": {"M": {"city": {"S": "Kyiv"}, "n": {"N": str(i)}}}}
    if i % 3:
        it["qty"] = {"N": str(i * 3)}
    if i % 6 == 0:
        it["tags"] = {"SS": ["gift", f"t{i % 4}"]}
    if i % 7 == 0:
        it["raw"] = {"B": bytes([0, 255, i % 256])}
    if i % 9 == 0:
        it["note"] = {"NULL": True}
    return it


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    main = sandbox.session("sandbox-main")
    ddb = main.client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    items = [item(i) for i in range(N_ITEMS)]
    for start in range(0, N_ITEMS, 25):
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": it}}
                                                   for it in items[start:start + 25]]})
    reader = role_name(ENV, CONSUMER)
    roles = {reader: (trust(f"arn:aws:iam::{CONSUMER}:root"), doc(allow(list(READ_ACTIONS), [TABLE_ARN])))}
    with consumer_world(sandbox, tmp_path_factory.mktemp("aws"), user=PROFILE, roles=roles,
                        assume=[role_arn(reader)], env={QUIET_ENV: "1"}):
        from xacct_nb.sessions import assume

        yield SimpleNamespace(reader=assume(PROFILE, role_arn(reader)), role=role_arn(reader))
    ddb.delete_table(TableName=TABLE)


@pytest.fixture(scope="module")
def client(world):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=":0", scheduler_port=0)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def table(world) -> RemoteTable:
    return RemoteTable(world.reader, TABLE, progress=False)


@pytest.fixture(scope="module")
def full(table) -> pd.DataFrame:
    return table.scan(allow_full_scan=True)


def by_key(df: pd.DataFrame, keys: list[str] = KEYS) -> pd.DataFrame:
    """Rows by key, columns by name: both follow page order, which differs between reads."""
    return df.sort_values(keys).reset_index(drop=True).sort_index(axis=1)


def assert_same_read(got: pd.DataFrame, want: pd.DataFrame, keys: list[str] = KEYS) -> None:
    """Value for value and dtype for dtype, rows by key."""
    got, want = by_key(got, keys), by_key(want, keys)
    got.attrs = want.attrs = {}
    pd.testing.assert_frame_equal(got, want)


# --- to_dask ---------------------------------------------------------------------------------------

def test_to_dask_equals_scan(client, table, full):
    ddf = table.to_dask(segments=4)
    assert ddf.npartitions == 4
    got = ddf.compute()
    assert len(got) == N_ITEMS
    assert_same_read(got, full)
    assert ddf.dtypes.astype(str).to_dict() == full.dtypes.astype(str).to_dict()  # meta agrees with scan
    assert list(ddf.columns[:2]) == KEYS


def test_runs_on_any_scheduler(table, full):
    """No cluster needed: the threaded and the synchronous schedulers give the same read."""
    ddf = table.to_dask(segments=2)
    for scheduler in ("threads", "sync"):
        assert_same_read(ddf.compute(scheduler=scheduler), full)


def test_partitions_are_the_segments(client, table, full):
    sizes = table.to_dask(segments=3).map_partitions(len).compute()
    assert len(sizes) == 3 and sum(sizes) == N_ITEMS and all(n > 0 for n in sizes)


def test_scan_options_pass_through(client, table, full):
    got = table.to_dask(segments=2, filter={"flag": True}, projection=["amount"]).compute()
    want = full.loc[full["flag"], ["pk", "sk", "amount"]]
    assert_same_read(got, want)


def test_no_secret_in_the_graph_and_reprs(table, world):
    secret = world.reader.get_credentials().get_frozen_credentials()
    ddf = table.to_dask(segments=2)
    graph = cloudpickle.dumps(dict(ddf.__dask_graph__()))
    assert secret.secret_key.encode() not in graph and secret.token.encode() not in graph
    assert secret.access_key.encode() not in graph
    recipe = AssumeRecipe.from_session(world.reader)
    assert recipe.profile == PROFILE and recipe.role_arn == world.role
    frozen = FrozenCredentials.from_session(world.reader)
    for text in (repr(recipe), repr(frozen), str(frozen)):
        assert secret.secret_key not in text and secret.access_key not in text
        assert secret.token not in text
    assert "***" in repr(AssumeRecipe("p", "arn:aws:iam::1:role/r", external_id="sesame"))
    assert "sesame" not in repr(AssumeRecipe("p", "arn:aws:iam::1:role/r", external_id="sesame"))


def test_frozen_credentials_read_on_workers(client, table, full):
    assert_same_read(table.to_dask(segments=2, credentials="frozen").compute(), full)


def test_frozen_credentials_near_expiry_refuse(world):
    frozen = FrozenCredentials.from_session(world.reader)
    soon = FrozenCredentials(**{**frozen.__dict__,
                                "expires": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)})
    with pytest.raises(CredentialsExpired, match="expire in .* s — start the read again"):
        soon.session()


def test_worker_without_the_profile(client, table):
    recipe = AssumeRecipe("no-such-profile-on-workers", role_arn("x"))
    with pytest.raises(InputError, match="no-such-profile-on-workers.*credentials='frozen'"):
        table.to_dask(segments=2, credentials=recipe).compute()


@pytest.mark.parametrize("option", ["max_items", "start_key", "allow_full_scan", "dtype_backend"])
def test_per_partition_options_refused(table, option):
    with pytest.raises(InputError, match=f"to_dask takes no {option}="):
        table.to_dask(segments=2, **{option: 1})


def test_worker_sessions_are_cached_per_process(world):
    recipe = AssumeRecipe(PROFILE, world.role)
    assert recipe.session() is recipe.session()


# --- conforming a partition to the meta ------------------------------------------------------------

def test_conform_fills_missing_and_widens_losslessly():
    meta = pd.DataFrame({"k": pd.Series(dtype="Int64"), "f": pd.Series(dtype="float64"),
                         "d": pd.Series(dtype=object), "s": pd.Series(dtype="str")})
    part = pd.DataFrame({"k": pd.array([1, 2], dtype="Int64"), "f": pd.array([3, None], dtype="Int64"),
                         "d": pd.array([4, 5], dtype="Int64")})
    got = conform(part, meta)
    assert list(got.dtypes) == list(meta.dtypes)
    assert got["f"].iloc[0] == 3.0 and pd.isna(got["f"].iloc[1])
    assert list(got["d"]) == [Decimal(4), Decimal(5)] and got["s"].isna().all()


def test_conform_refuses_what_would_change_a_value():
    meta = pd.DataFrame({"k": pd.Series(dtype="Int64")})
    with pytest.raises(InputError, match="column 'k' holds float64.*dtypes=\\{'k': 'object'\\}"):
        conform(pd.DataFrame({"k": [1.5]}), meta)
    with pytest.raises(InputError, match="attribute 'extra' was not in the sample.*projection="):
        conform(pd.DataFrame({"k": pd.array([1], dtype="Int64"), "extra": ["x"]}), meta)


# --- a sparse attribute (10 % of items), segments=8 ------------------------------------------

SPARSE_TABLE = "dasktest-sparse"
SPARSE_ITEMS = 300


@pytest.fixture(scope="module")
def sparse(sandbox, world):
    """A table where 'tags' (and 'rare', in 3 items) appear in few items, read by the table's
    owner (a profile recipe without a role: the workers open sandbox-main themselves)."""
    main = sandbox.session("sandbox-main")
    ddb = main.client("dynamodb")
    ddb.create_table(TableName=SPARSE_TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    for start in range(0, SPARSE_ITEMS, 25):
        batch = []
        for i in range(start, min(start + 25, SPARSE_ITEMS)):
            it = {"id": {"S": f"item-{i:04d}"}, "n": {"N": str(i)}}
            if i % 10 == 3:
                it["tags"] = {"L": [{"S": f"t{i}"}]}
            if i in (7, 150, 299):
                it["rare"] = {"N": f"{i}.25"}
            batch.append({"PutRequest": {"Item": it}})
        ddb.batch_write_item(RequestItems={SPARSE_TABLE: batch})
    table = RemoteTable(main, SPARSE_TABLE, progress=False)
    yield SimpleNamespace(table=table, full=table.scan(allow_full_scan=True))
    ddb.delete_table(TableName=SPARSE_TABLE)


def test_sparse_attribute_twenty_runs_out_of_twenty(client, sparse):
    exact = 0
    for _ in range(20):
        got = sparse.table.to_dask(segments=8).compute()
        assert_same_read(got, sparse.full, ["id"])
        exact += 1
    assert exact == 20


def test_attribute_the_sample_missed_is_added_at_compute(client, sparse):
    """One item per segment cannot have seen an attribute of 3 items in 300: the partitions'
    schemas are reconciled when computed, so the read is still scan's, column for column."""
    ddf = sparse.table.to_dask(segments=8, sample_items=1)
    assert "rare" not in ddf.columns  # the sample's columns
    got = ddf.compute()
    assert_same_read(got, sparse.full, ["id"])
    assert sorted(got["rare"].dropna()) == [7.25, 150.25, 299.25]


def test_meta_comes_from_every_segments_first_page(sparse):
    """The sample is each segment's first items, not one page of whichever segment answered
    first: with one item per segment, eight segments give eight sampled rows."""
    from xacct_nb.dynamo.distributed import sample_frame

    sample = sample_frame(sparse.table, 8, 8, {})
    assert len(sample) == 8 and sample["id"].is_unique


# --- a worker killed mid-read ---------------------------------------------------------------------

def stall_first_run(df: pd.DataFrame, marker: str) -> pd.DataFrame:
    """The first partition to get here (anywhere) records its worker's pid and stalls, so the
    test can SIGKILL that worker; every later run (the retry included) passes straight through."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return df
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    time.sleep(60)  # killed long before this ends
    return df


def test_killed_worker_changes_nothing(client, table, full, tmp_path):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    marker = tmp_path / "stalled-pid"
    base = table.to_dask(segments=4)
    ddf = base.map_partitions(stall_first_run, str(marker), meta=base._meta)
    future = client.compute(ddf)
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "no partition started"
        time.sleep(0.1)
    pid = int(marker.read_text())
    assert pid in client.run(os.getpid).values()  # a worker process of this cluster
    os.kill(pid, signal.SIGKILL)
    got = future.result(timeout=60)
    assert_same_read(got, full)
    client.wait_for_workers(2, timeout=30)  # the nanny restarted it: later tests keep two


# --- the CLI -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def params(world, tmp_path_factory) -> str:
    return read_params(tmp_path_factory.mktemp("params"), ENV, TABLE, PROFILE)


@pytest.mark.parametrize("credentials", ["recipe", "frozen"])
def test_cli_dask_writes_a_typed_dataset(client, params, full, tmp_path, capsys, credentials):
    out = tmp_path / "orders-ds"
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--all", "--segments", "3",
                     "--dask", client.scheduler.address, "--worker-credentials", credentials,
                     "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    files = sorted(out.glob("part-*.parquet"))
    assert len(files) == 3
    schemas = [pq.read_schema(f) for f in files]
    assert all(s.equals(schemas[0], check_metadata=True) for s in schemas)
    dataset = pq.read_table(out)
    assert dataset.num_rows == N_ITEMS
    assert str(dataset.schema.field("qty").type) == "int64"
    assert str(dataset.schema.field("tags").type).startswith("list")
    assert sorted(dataset.column("sk").to_pylist()) == sorted(full["sk"].tolist())
    assert f"{N_ITEMS} rows" in err.strip().splitlines()[-1] and "3 partitions" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_dataset_schema_is_unified_and_number_flags_are_conservative(tmp_path):
    """One partition all integers (int64), another with decimals: one decimal schema whose
    flags hold for every file, so reading the dataset back keeps every value exact."""
    from arrow_oracle import arrow_to_pandas
    from xacct_nb.dynamo.arrow_parse import pages_to_arrow
    from xacct_nb.dynamo.arrow_types import NUMBER

    def part(name: str, numbers: list[str]) -> str:
        items = [{"k": {"S": f"{name}{i}"}, "n": {"N": n}} for i, n in enumerate(numbers)]
        table = pages_to_arrow([json.dumps({"Items": items, "Count": len(items)}).encode()], key_names=["k"])
        path = str(tmp_path / f"{name}.parquet")
        pq.write_table(table, path)
        return path

    paths = [part("a", ["1", "2"]), part("b", ["0.1", "12345678901234567.5"]), part("c", [])]
    unified = distributed.unify_dataset(tmp_path, paths)
    assert [pq.read_schema(p).equals(unified, check_metadata=True) for p in paths] == [True] * 3
    field = unified.field("n")
    assert str(field.type).startswith("decimal128") and field.metadata[NUMBER] == b"decimal"
    df = arrow_to_pandas(pq.read_table(tmp_path))
    assert sorted(df["n"].tolist()) == [Decimal("0.1"), Decimal(1), Decimal(2), Decimal("12345678901234567.5")]


def test_cli_dask_unreachable_scheduler(params, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_dask, "SCHEDULER_TIMEOUT", "2s")
    out = tmp_path / "never"
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--all", "--segments", "2",
                     "--dask", "tcp://127.0.0.1:9", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "tcp://127.0.0.1:9" in err and "--dask local" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_dask_refusals(params, tmp_path, capsys):
    existing = tmp_path / "there"
    existing.mkdir()
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--all", "--segments", "2",
                     "--dask", "--out", str(existing)])  # refused before any cluster or AWS call
    assert code == 2 and "already exists" in capsys.readouterr().err
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--limit", "5", "--dask",
                     "--out", str(tmp_path / "d")])
    assert code == 2 and "--limit/--max-rcu cannot apply per partition" in capsys.readouterr().err
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--segments", "2",
                     "--dask", "udp://x", "--out", str(tmp_path / "d")])
    assert code == 2 and "--dask" in capsys.readouterr().err



def test_a_projected_name_no_partition_returned_is_reported(client, sparse):
    """Judged over the whole read: 'rare' (3 items, in few partitions) is returned, 'nope' not."""
    got = sparse.table.to_dask(segments=8, projection=["n", "rare", "nope"]).compute()
    assert got.attrs["xacct"]["projection_missing"] == ["nope"]
    assert sorted(got["rare"].dropna()) == [7.25, 150.25, 299.25]
