"""The launcher: results in rank order, and a failing rank takes the whole run down cleanly.

These tests start real processes (spawn, gloo on 127.0.0.1). Every worker records its pid, and
each test checks that none of them is alive once ``launch`` returned or raised.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from pargnn.dist import launch as launch_mod
from pargnn.dist.launch import (
    RankFailedError,
    free_port,
    launch,
    resolve_backend,
    run_under_torchrun,
    under_torchrun,
)
from pargnn.errors import ConfigError, PargnnError

from . import workers

# A failed rank must bring the whole run down (start-up included) within this.
FAILURE_BOUND_S = 60.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@pytest.fixture
def pid_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder the workers write their pids to; afterwards, none of them may be alive."""
    folder = tmp_path / "pids"
    folder.mkdir()
    yield folder
    pids = [int(p.read_text()) for p in folder.glob("*.pid")]
    survivors = [pid for pid in pids if _alive(pid)]
    for pid in survivors:  # do not leak them into the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes left behind: {survivors}"


def _pids(pid_dir: Path) -> dict[int, int]:
    return {int(p.stem.removeprefix("rank")): int(p.read_text()) for p in pid_dir.glob("*.pid")}


def _launch_failing(pid_dir: Path, nprocs: int, **payload: Any) -> tuple[RankFailedError, float]:
    start = time.monotonic()
    with pytest.raises(RankFailedError) as info:
        launch(
            workers.fail_one_rank,
            {"pid_dir": str(pid_dir), **payload},
            nprocs,
            backend="gloo",
            threads_per_process=1,
        )
    elapsed = time.monotonic() - start
    return info.value, elapsed


@pytest.mark.timeout(120)
def test_results_in_rank_order_with_all_reduce(pid_dir: Path) -> None:
    results = launch(
        workers.sum_of_ranks,
        {"pid_dir": str(pid_dir), "tag": "hello"},
        4,
        backend="gloo",
        threads_per_process=1,
    )
    assert [r["rank"] for r in results] == [0, 1, 2, 3]
    for rank, r in enumerate(results):
        assert (r["dist_rank"], r["world_size"], r["dist_world_size"]) == (rank, 4, 4)
        assert (r["local_rank"], r["device"], r["backend"]) == (rank, "cpu", "gloo")
        assert r["sum"] == 1 + 2 + 3 + 4
        assert r["payload_tag"] == "hello"
    assert len(set(_pids(pid_dir).values())) == 4  # four distinct processes


@pytest.mark.timeout(120)
def test_raised_exception_stops_the_ranks_blocked_in_a_collective(pid_dir: Path) -> None:
    error, elapsed = _launch_failing(pid_dir, 3, bad_rank=1, how="value_error", delay_s=0.5)
    assert error.rank == 1
    message = str(error)
    assert message.startswith("rank 1 failed with ValueError: boom from the bad rank")
    assert "workers.py" in message  # the end of the remote traceback
    assert "ValueError: boom from the bad rank" in error.remote_traceback
    assert isinstance(error, PargnnError)
    assert elapsed < FAILURE_BOUND_S
    assert sorted(_pids(pid_dir)) == [0, 1, 2]


@pytest.mark.timeout(120)
def test_pargnn_error_in_a_rank_keeps_its_plain_message(pid_dir: Path) -> None:
    error, _ = _launch_failing(pid_dir, 2, bad_rank=1, how="config_error")
    assert str(error) == "rank 1: bad grid"
    assert error.rank == 1
    assert error.remote_traceback == ""


@pytest.mark.timeout(120)
def test_killed_rank_is_reported_and_the_others_stopped(pid_dir: Path) -> None:
    error, elapsed = _launch_failing(pid_dir, 3, bad_rank=2, how="sigkill", delay_s=0.5)
    assert error.rank == 2
    assert str(error) == "rank 2 was killed by signal 9 (SIGKILL)"
    assert elapsed < FAILURE_BOUND_S


@pytest.mark.timeout(120)
def test_ranks_that_cannot_notice_the_failure_are_terminated(pid_dir: Path) -> None:
    # Rank 0 sleeps instead of waiting in a collective, as a rank stuck in compute or in an
    # NCCL kernel would: only the parent can stop it.
    error, elapsed = _launch_failing(pid_dir, 2, bad_rank=1, how="value_error", wait="sleep")
    assert error.rank == 1
    assert "ValueError" in str(error)
    assert elapsed < FAILURE_BOUND_S


@pytest.mark.timeout(120)
def test_threads_per_process_is_applied(pid_dir: Path) -> None:
    assert launch(
        workers.num_threads, {"pid_dir": str(pid_dir)}, 2, backend="gloo", threads_per_process=3
    ) == [3, 3]


@pytest.mark.timeout(120)
def test_results_of_several_megabytes_come_back(pid_dir: Path) -> None:
    numel = 2_000_000  # 8 MB of float32 per rank
    results = launch(
        workers.big_result,
        {"pid_dir": str(pid_dir), "numel": numel},
        2,
        backend="gloo",
        threads_per_process=1,
    )
    for rank, tensor in enumerate(results):
        assert tensor.shape == (numel,)
        assert torch.all(tensor == rank)


@pytest.mark.timeout(120)
def test_keyboard_interrupt_in_the_parent_terminates_the_children(pid_dir: Path) -> None:
    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 60
        while len(_pids(pid_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt_when_started, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        launch(
            workers.block_forever,
            {"pid_dir": str(pid_dir)},
            2,
            backend="gloo",
            threads_per_process=1,
        )
    thread.join()
    assert len(_pids(pid_dir)) == 2


PARENT_SCRIPT = """
import sys

from pargnn.dist.launch import launch

sys.path.insert(0, sys.argv[1])
from dist import workers

if __name__ == "__main__":
    launch(workers.deaf_to_sigint, {"pid_dir": sys.argv[2]}, 2, backend="gloo",
           threads_per_process=1)
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_children_die_with_a_killed_parent(pid_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    tests_dir = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen([sys.executable, str(script), tests_dir, str(pid_dir)])
    try:
        deadline = time.monotonic() + 90
        while len(_pids(pid_dir)) < 2 and time.monotonic() < deadline:
            assert parent.poll() is None, "the parent ended before its children started"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
    children = list(_pids(pid_dir).values())
    assert len(children) == 2
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    # the pid_dir fixture asserts that none is left


@pytest.mark.timeout(30)
def test_bad_arguments_are_refused_before_any_process_starts() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        launch(workers.num_threads, {}, 0, backend="gloo")
    with pytest.raises(ConfigError, match="unknown backend 'mpi'"):
        launch(workers.num_threads, {}, 2, backend="mpi")
    with pytest.raises(TypeError, match="module-level function"):
        launch(lambda ctx, payload: 0, {}, 2, backend="gloo")


@pytest.mark.timeout(30)
def test_resolve_backend() -> None:
    assert resolve_backend("gloo") == "gloo"
    assert resolve_backend("auto") == ("nccl" if torch.cuda.is_available() else "gloo")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="use --backend gloo"):
            resolve_backend("nccl")


@pytest.mark.timeout(30)
def test_run_under_torchrun_refuses_outside_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not under_torchrun()
    with pytest.raises(ConfigError, match="not started by torchrun"):
        run_under_torchrun(workers.num_threads, {})


@pytest.mark.timeout(30)
def test_failed_rank_error_pickles() -> None:
    error = RankFailedError(3, "rank 3: bad", "tb")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.rank, str(copy), copy.remote_traceback) == (3, "rank 3: bad", "tb")
    assert launch_mod.RankFailedError is RankFailedError


TORCHRUN_SCRIPT = """
import os
import sys

import torch
import torch.distributed as dist

from pargnn.dist.launch import run_under_torchrun


def work(ctx, payload):
    if ctx.rank == payload["bad_rank"]:
        raise ValueError("torchrun rank failed")
    value = torch.tensor([float(ctx.rank + 1)])
    dist.all_reduce(value)
    return (ctx.rank, ctx.world_size, ctx.local_rank, int(value.item()))


if __name__ == "__main__":
    gathered = run_under_torchrun(work, {"bad_rank": int(sys.argv[1])}, backend="gloo")
    # One write per line: the two ranks share torchrun's stdout.
    if gathered is not None:
        sys.stdout.write(f"GATHERED {gathered}\\n")
    else:
        sys.stdout.write(f"NOT RANK 0 {os.environ['RANK']}\\n")
    sys.stdout.flush()
"""


def _torchrun(tmp_path: Path, bad_rank: int) -> tuple[subprocess.CompletedProcess[str], float]:
    script = tmp_path / "torchrun_script.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(script),
        str(bad_rank),
    ]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=100)
    return done, time.monotonic() - start


@pytest.mark.timeout(120)
def test_run_under_torchrun_gathers_to_rank_zero(tmp_path: Path) -> None:
    done, _ = _torchrun(tmp_path, bad_rank=-1)
    assert done.returncode == 0, done.stderr
    assert "GATHERED [(0, 2, 0, 3), (1, 2, 1, 3)]" in done.stdout
    assert "NOT RANK 0 1" in done.stdout


@pytest.mark.timeout(120)
def test_failure_under_torchrun_ends_the_run(tmp_path: Path) -> None:
    done, elapsed = _torchrun(tmp_path, bad_rank=1)
    assert done.returncode != 0
    assert "torchrun rank failed" in done.stderr
    assert elapsed < 60
