"""Settings from HEED_* variables and flags, and `python -m service serve` as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from pydantic import ValidationError

from service.app.serve import build_parser, main
from service.app.settings import Settings
from tests.service.app.conftest import wait_until
from tests.service.app.test_readiness import copy_with_corrupted_bundle
from tests.tiny_corpus import PAIRS

REPO = Path(__file__).resolve().parents[3]


def test_settings_come_from_heed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEED_PORT", "9001")
    monkeypatch.setenv("HEED_BATCHING", "false")
    monkeypatch.setenv("HEED_MODELS_DIR", "/models")
    monkeypatch.setenv("HEED_REDIS_URL", "")
    monkeypatch.setenv("HEED_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("HEED_BATCH_WINDOW_MS", "7.5")
    settings = Settings()
    assert (settings.port, settings.batching, settings.models_dir) == (9001, False, Path("/models"))
    assert (settings.redis_url, settings.store_backend, settings.log_level) == (None, "sqlite", "debug")
    assert settings.batch_window_seconds == pytest.approx(0.0075)
    monkeypatch.setenv("HEED_REDIS_URL", "redis://cache:6379/0")
    assert Settings().store_backend == "redis"


def test_defaults_follow_the_issue() -> None:
    settings = Settings()
    assert (settings.port, settings.models_dir, settings.store_ttl_seconds) == (8000, Path("artifacts"), 86400)
    assert (settings.max_chars, settings.max_texts, settings.batching) == (5000, 64, True)


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="queue_capacity"):
        Settings(queue_capacity=10, max_texts=64)
    with pytest.raises(ValidationError):
        Settings(max_batch_size=0)
    with pytest.raises(ValidationError, match="light requests share decoder steps with others"):
        Settings(light_request_work=20_000, max_decoding_work=15_000)
    assert Settings(light_request_work=20_000, max_decoding_work=None).light_request_work == 20_000


def test_every_setting_has_a_flag_and_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in flags
    given = vars(parser.parse_args(["--port", "1234", "--no-batching", "--models-dir", "m", "--log-level", "debug"]))
    assert given == {"port": 1234, "batching": False, "models_dir": "m", "log_level": "debug"}
    monkeypatch.setenv("HEED_PORT", "9999")
    monkeypatch.setenv("HEED_MAX_TEXTS", "8")
    settings = Settings(**given)
    assert (settings.port, settings.max_texts) == (1234, 8)


def test_bad_flags_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-batch-size", "0"]) == 2
    assert "max_batch_size" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["--port", "not-a-number"])
    assert raised.value.code == 2


def _lines(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


@pytest.fixture
def serve_process(
    tiny_bundle: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], list[str], threading.Thread]]:
    models = copy_with_corrupted_bundle(tiny_bundle, tmp_path)
    environment = {**os.environ, "HEED_SQLITE_PATH": str(tmp_path / "results.sqlite3"), "HEED_BATCH_WINDOW_MS": "1"}
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0",
               "--models-dir", str(models)]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=environment, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    try:
        yield process, lines, reader
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_python_m_service_serve_runs_the_service_with_json_logs(
    serve_process: tuple[subprocess.Popen[str], list[str], threading.Thread],
) -> None:
    process, lines, reader = serve_process
    address = re.compile(r"running on (http://127\.0\.0\.1:\d+)")
    wait_until(lambda: any(address.search(line) for line in lines) or process.poll() is not None, "the server")
    assert process.poll() is None, "".join(lines)
    url = next(match.group(1) for line in lines if (match := address.search(line)))
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        wait_until(lambda: "failures" in client.get("/readyz").json() and client.get("/readyz").json()["failures"],
                   "loading to finish")  # fmt: skip
        readiness = client.get("/readyz")
        assert readiness.status_code == 503 and "en-de-broken" in readiness.json()["reason"]
        response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": PAIRS[1][0]},
                               headers={"X-Request-ID": "from-the-test"})  # fmt: skip
        assert response.json()["translations"][0]["text"] == PAIRS[1][1]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0  # a graceful stop on SIGTERM is a clean exit
    reader.join(timeout=30)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(record["message"] == "Application shutdown complete." for record in records)
    assert len(records) == len([line for line in lines if line.strip()]), "every log line is JSON"
    access = [record for record in records if record["logger"] == "heed.access"]
    [translate] = [record for record in access if record["route"] == "/v1/translate"]
    assert translate["request_id"] == "from-the-test" and translate["status"] == 200
    assert PAIRS[1][0] not in json.dumps(records), "input text is not logged"
