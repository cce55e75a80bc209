"""xacct_nb.atomicfile: the old file or the complete new one, never a mix, never a leftover."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from xacct_nb import atomicfile
from xacct_nb.atomicfile import TEMP_SUFFIX, atomic_path, atomic_write, atomic_write_text
from xacct_nb.dynamo.writers import write_frame


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_replaces_whole_and_keeps_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as fh:
        fh.write("new")
        assert target.read_text() == "old"  # the target changes only at the end
        assert len(leftovers(tmp_path)) == 1
    assert target.read_text() == "new" and leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_an_exception_leaves_the_old_file_and_no_temp(tmp_path, error):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(error), atomic_write(target) as fh:
        fh.write("half")
        raise error()
    assert target.read_text() == "old" and leftovers(tmp_path) == []


@pytest.mark.parametrize("stage", ["created", "written"])
def test_ctrl_c_at_each_stage_of_a_frame_write(tmp_path, monkeypatch, stage):
    """What a Ctrl-C does inside pandas/pyarrow: KeyboardInterrupt at that moment."""
    def interrupt(at, _path):
        if at == stage:
            raise KeyboardInterrupt
    monkeypatch.setattr(atomicfile, "_stage_hook", interrupt)
    for name in ("a.csv", "a.parquet", "a.jsonl"):
        target = tmp_path / name
        target.write_bytes(b"old")
        with pytest.raises(KeyboardInterrupt):
            write_frame(pd.DataFrame({"x": [1, 2]}), target)
        assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_exclusive_never_replaces(tmp_path):
    target = tmp_path / "record.json"
    atomic_write_text(target, "first", mode=0o444, exclusive=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    with pytest.raises(FileExistsError):
        atomic_write_text(target, "second", mode=0o444, exclusive=True)
    assert target.read_text() == "first" and leftovers(tmp_path) == []


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(atomic_write_text(tmp_path / "c", "x", mode=0o600).stat().st_mode) == 0o600


def test_atomic_path_for_libraries(tmp_path):
    target = tmp_path / "t.parquet"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp != target
        pd.DataFrame({"x": [1]}).to_parquet(temp)
    assert pd.read_parquet(target)["x"].tolist() == [1]
