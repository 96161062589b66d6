"""Full and read-only disks (issue 15): one clear line, and nothing half-written.

The tests that need a real small disk mount a tmpfs; they skip where that is not allowed
(not root, or no mount in a container).
"""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.config import dump_config
from ahunt.errors import AhuntError, StoreError
from ahunt.store.atomic import disk_problem, require_space, savefig_atomic, umask_mode, write_bytes_atomic
from ahunt.store.workspace import Workspace
from conftest import tiny_config

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def small_disk(tmp_path):
    """A function mounting a tmpfs of a given size at a fresh folder; all unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounts = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(where)
        return where

    yield mount
    for where in reversed(mounts):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave_kb: int) -> None:
    """Leave only ``leave_kb`` KiB free on ``disk``."""
    free = shutil.disk_usage(disk).free // 1024
    with open(disk / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_kb) * 1024)


def test_disk_problems_are_recognised_through_library_wrappers():
    import sqlite3

    assert disk_problem(OSError(errno.ENOSPC, "No space left on device")).startswith("no space left on the device")
    assert disk_problem(sqlite3.OperationalError("database or disk is full")).startswith("no space left")
    assert disk_problem(sqlite3.OperationalError("attempt to write a readonly database")).startswith("the file system is read-only")
    assert disk_problem(RuntimeError("Can't write data (errno = 28, error message = 'No space left on device')"))
    assert disk_problem(ValueError("something else")) is None


def test_atomic_writes_follow_the_umask_and_leave_nothing_on_failure(tmp_path, monkeypatch):
    old = os.umask(0o002)
    try:
        write_bytes_atomic(tmp_path / "a.bin", b"xyz")
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o664 == umask_mode()
    finally:
        os.umask(old)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_bytes_atomic(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"xyz" and os.listdir(tmp_path) == ["a.bin"]


def test_checkpoints_follow_the_umask_so_a_group_can_share_a_hunt(tmp_path):
    from ahunt.learn.model import HuntNet, ModelArgs
    from ahunt.learn.train import save_checkpoint

    old = os.umask(0o002)
    try:
        save_checkpoint(tmp_path / "round_0000.pt", HuntNet(ModelArgs(n_classes=3, image_size=32)), {"round": 0})
    finally:
        os.umask(old)
    assert (tmp_path / "round_0000.pt").stat().st_mode & 0o777 == 0o664
    assert os.listdir(tmp_path) == ["round_0000.pt"]


def test_the_store_refuses_a_round_that_does_not_fit_and_stays_readable(tmp_path, monkeypatch):
    import numpy as np

    from ahunt.store.images import RoundData, Store

    store = Store(tmp_path / "store.h5")
    images = np.zeros((4, 1, 8, 8), np.float32)
    store.add_round(RoundData(images, np.array(list("abcd"))))
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1024))
    with pytest.raises(StoreError, match="cannot .*no space left on the device"):
        store.add_round(RoundData(images, np.array(list("efgh"))))
    monkeypatch.undo()
    assert store.n_rounds() == 1 and store.load_round(0).ids.tolist() == list("abcd")
    with pytest.raises(OSError):
        require_space(tmp_path, 2**62)


@pytest.fixture
def tiny_toml(tmp_path, sim_cache, monkeypatch):
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    path = tmp_path / "tiny.toml"
    path.write_text(dump_config(tiny_config()))
    return path


@pytest.mark.slow
def test_init_on_a_full_disk_leaves_nothing_behind(small_disk, tiny_toml, tmp_path):
    disk = small_disk("400k")
    # a process of its own: before this fix HDF5 crashed the interpreter (segmentation fault)
    done = subprocess.run([sys.executable, "-m", "ahunt", "init", str(disk / "ws"), "--simulated", "--config",
                           str(tiny_toml)], capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot create the workspace: no space left on the device" in lines[0]
    assert os.listdir(disk) == []  # no half-built workspace, no temporary folder
    # an empty folder given as the workspace stays as it was, too
    (disk / "ws").mkdir()
    result = invoke("init", disk / "ws", "--simulated", "--config", tiny_toml)
    assert result.exit_code == 2 and os.listdir(disk) == ["ws"] and os.listdir(disk / "ws") == []


@pytest.mark.slow
def test_retrain_and_ingest_on_a_full_disk_keep_every_answer_and_the_model(small_disk, tiny_toml):
    disk = small_disk("12m")
    ws_path = disk / "ws"
    assert invoke("init", ws_path, "--simulated", "--config", tiny_toml).exit_code == 0
    assert invoke("ingest", ws_path, "--simulated").exit_code == 0
    fill(disk, 60)
    result = invoke("hunt", ws_path, "--oracle", "truth")
    assert result.exit_code == 2
    assert "round_0001.pt: cannot write the checkpoint: no space left on the device" in result.output
    assert "the previous model stays current" in result.output and "Traceback" not in result.output
    ws = Workspace.open(ws_path)
    assert ws.trained_rounds() == [0] and sorted(os.listdir(ws_path / "checkpoints")) == ["round_0000.pt"]
    assert len(ws.log.standing_answers(1)) == ws.config.hunt.questions  # every answer was kept
    result = invoke("ingest", ws_path, "--simulated")
    assert result.exit_code == 2 and "no space left on the device" in result.output
    assert ws.store.n_rounds() == 2 and len(ws.store.load_round(1).ids) > 0  # store unchanged, readable
    (disk / "filler").unlink()
    result = invoke("hunt", ws_path, "--oracle", "truth")  # with space again, the night completes
    assert result.exit_code == 0, result.output
    assert Workspace.open(ws_path).trained_rounds() == [0, 1]


@pytest.mark.slow
def test_a_read_only_workspace_gives_one_line_per_command(small_disk, tiny_toml):
    disk = small_disk("12m")
    ws_path = disk / "ws"
    assert invoke("init", ws_path, "--simulated", "--config", tiny_toml).exit_code == 0
    assert invoke("ingest", ws_path, "--simulated").exit_code == 0
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.decode().strip()}")
    for args in (["hunt", ws_path, "--oracle", "truth"], ["ingest", ws_path, "--simulated"],
                 ["interest", ws_path, "reserve=1"], ["label", ws_path, "--oracle", "truth"],
                 ["report", ws_path], ["export", ws_path]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "read-only" in result.output and "Traceback" not in result.output, result.output
    assert invoke("status", ws_path).exit_code == 0  # reading still works
