"""The runtime stands on numpy, onnxruntime and sentencepiece alone: torch never gets imported."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "sentencepiece"}
RUNTIME_FILES = [*sorted((REPO / "service" / "runtime").glob("*.py")), REPO / "service" / "cli_translate.py"]


def test_using_the_runtime_and_cli_never_imports_torch(tiny_bundle: Path) -> None:
    script = textwrap.dedent(
        f"""
        import io, sys
        from service.runtime import ModelRegistry
        from service import cli_translate

        registry = ModelRegistry.load_dir({str(tiny_bundle.parent)!r})
        translator = registry.get("en", "de")
        translator.translate_batch(["A man is riding a bike.", "\\x00"], beam_size=1)
        translator.translate_batch(["Two dogs are playing in the snow."], beam_size=4, n_best=2)
        translator.force_decode(["A man."], ["Ein Mann."])
        translator.count_source_tokens("A man.")
        sys.stdin = io.TextIOWrapper(io.BytesIO(b"A man is riding a bike.\\n"))
        sys.stdout = io.StringIO()
        assert cli_translate.main(["--model", "en-de", "--models-dir", {str(tiny_bundle.parent)!r}]) == 0
        assert sys.stdout.getvalue() == "Ein Mann f\\u00e4hrt Fahrrad.\\n", sys.stdout.getvalue()
        leaked = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.") or m.startswith("model."))
        sys.__stdout__.write(repr(leaked))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_runtime_sources_import_only_the_allowed_packages() -> None:
    for path in RUNTIME_FILES:
        outside = imported_modules(path) - ALLOWED_THIRD_PARTY - set(sys.stdlib_module_names) - {"service"}
        assert not outside, f"{path.name} imports {sorted(outside)}"
