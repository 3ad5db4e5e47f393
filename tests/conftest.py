"""Session fixtures: a small real model trained once, shared by every test package."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.tiny_corpus import TINY_MODEL_ARGS, write_corpus

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"

# The services some tests need and do not start without: name -> (what their skip reasons mention, the tests, the
# variable that turns their absence into a failure). Where one is missing, its tests are skipped and the run says so
# at the top and at the end, so that a green run cannot hide them; CI sets the variables.
SERVICES = {
    "redis-server": ("redis-server", "Redis store", "HEED_REQUIRE_REDIS"),
    "chromium": ("chromium", "browser", "HEED_REQUIRE_BROWSER"),
    "qemu-x86_64": ("qemu-user", "emulated AVX2 CPU", "HEED_REQUIRE_QEMU"),
}
APT_PACKAGES = {"qemu-x86_64": "qemu-user"}  # where the program's Debian package is named otherwise


def service_path(name: str) -> str | None:
    """Where the service's program is, found as the fixtures that start it look for it, or None."""
    if name == "chromium":
        chromium = os.environ.get("HEED_CHROMIUM", "/usr/bin/chromium")
        return chromium if Path(chromium).exists() else None
    return shutil.which(name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for name, (_, tests, required_by) in SERVICES.items():
        path = service_path(name)
        if path:
            lines.append(f"{name}: {path}")
        else:
            outcome = "fail" if os.environ.get(required_by) else "be skipped"
            package = APT_PACKAGES.get(name, name)
            lines.append(f"{name}: NOT FOUND, the {tests} tests will {outcome} (apt-get install {package})")
    return lines


def skipped_for_want_of(reports: Iterable[pytest.TestReport]) -> Counter[str]:
    """How many skipped tests each service's absence accounts for, by the skip reasons its fixtures give."""
    counts: Counter[str] = Counter()
    for report in reports:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for name, (mentioned, _, _) in SERVICES.items():
            if mentioned in reason.lower():
                counts[name] += 1
    return counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = skipped_for_want_of(terminalreporter.stats.get("skipped", []))
    if not counts:
        return
    terminalreporter.section("skipped for want of a service", sep="=", yellow=True, bold=True)
    for name, count in counts.items():
        _, tests, required_by = SERVICES[name]
        terminalreporter.write_line(
            f"{name} not found: {count} {tests} tests were SKIPPED (apt-get install {APT_PACKAGES.get(name, name)}; "
            f"{required_by}=1 makes "
            "its absence a failure, as in CI)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def train_tiny(corpus: tuple[Path, Path], out: Path, *options: str) -> Path:
    """Trains a TINY_MODEL_ARGS model on the tiny corpus (validated on itself) and returns its best.pt."""
    from model.train import main

    src, tgt = corpus
    args = ["--src-lang", "en", "--tgt-lang", "de", "--train-src", str(src), "--train-tgt", str(tgt)]
    args += ["--valid-src", str(src), "--valid-tgt", str(tgt), "--out", str(out), *TINY_MODEL_ARGS, *options]
    assert main(args) == 0
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a small model trained until it reproduces the tiny corpus (about ten seconds)."""
    return train_tiny(tiny_corpus, tmp_path_factory.mktemp("tiny-run"), "--epochs", "60")


@pytest.fixture(scope="session")
def conditional_checkpoint(tiny_corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a small conditional-GRU model, trained with word dropout."""
    out = tmp_path_factory.mktemp("tiny-conditional")
    return train_tiny(tiny_corpus, out, "--epochs", "40", "--decoder", "conditional", "--word-dropout", "0.1")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/artifacts/en-de: tiny_checkpoint exported and checked against PyTorch; its parent is a models dir.

    Shared by every test package: copy it before changing anything in it.
    """
    from export.bundle import export_bundle

    out = tmp_path_factory.mktemp("bundle") / "artifacts" / "en-de"
    return export_bundle(tiny_checkpoint, out).path
