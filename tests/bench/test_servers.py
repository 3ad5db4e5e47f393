"""What the harness reads from /proc about a server, and how it starts heed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import cpu_seconds, heed_arguments, process_tree, server_environment, status_kib


def test_a_process_tree_holds_the_children_and_their_memory_and_cpu_are_read() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in process_tree(os.getpid())
        assert status_kib(os.getpid(), "VmRSS") > 0
        assert status_kib(os.getpid(), "VmHWM") >= status_kib(os.getpid(), "VmRSS")
        assert cpu_seconds(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()
    assert child.pid not in process_tree(os.getpid())
    assert status_kib(child.pid, "VmRSS") == 0 and cpu_seconds(child.pid) == 0.0


def test_heed_is_started_as_shipped_with_batching_on_or_off(tmp_path: Path) -> None:
    on = heed_arguments(tmp_path / "models", tmp_path / "store.sqlite3", batching=True)
    off = heed_arguments(tmp_path / "models", tmp_path / "store.sqlite3", batching=False)
    assert on[:3] == ["-m", "service", "serve"] and on[-1] == "--batching" and off[-1] == "--no-batching"
    assert on[on.index("--models-dir") + 1] == str(tmp_path / "models")
    assert on[on.index("--sqlite-path") + 1] == str(tmp_path / "store.sqlite3")


def test_access_control_from_the_callers_environment_does_not_reach_the_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEED_API_KEYS", "secret-key")
    monkeypatch.setenv("HEED_RATE_LIMIT", "10")
    monkeypatch.setenv("HEED_MAX_BATCH_SIZE", "16")
    environment = server_environment()
    assert "HEED_API_KEYS" not in environment and "HEED_RATE_LIMIT" not in environment
    assert environment["HEED_MAX_BATCH_SIZE"] == "16"
