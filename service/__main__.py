"""python -m service <command>: `translate` (stdin to stdout) or `serve` (the HTTP API)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

# numpy's OpenBLAS starts a helper thread per core at import, and after each of the few matrix products the runtime
# asks of numpy (alignment, confidence) it spins waiting for more: measured at 0.3 s of CPU per 1.4 s heavy request
# on 2 cores, taken from the other batch worker. ONNX Runtime does the real work on threads of its own, so numpy
# gets one thread. Set before numpy is first imported; an operator's own value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

USAGE = """usage: python -m service <command> [options]

commands:
  translate   translate stdin to stdout, one sentence per line (python -m service translate --help)
  serve       run the HTTP API (python -m service serve --help)
"""

# command -> module whose main() runs it; imported only when chosen, so each works without the other
COMMANDS = {"translate": "service.cli_translate", "serve": "service.app.serve"}


def _entry_point(module_name: str) -> Callable[[], object]:
    entry: Callable[[], object] = importlib.import_module(module_name).main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE, end="", file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
        return 2
    try:
        entry = _entry_point(COMMANDS[command])
    except ModuleNotFoundError as error:  # e.g. serving extras not installed
        print(f"error: the {command!r} command is not available here ({error})", file=sys.stderr)
        return 2
    sys.argv = [f"python -m service {command}", *rest]  # each command parses sys.argv like a script of its own
    result = entry()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
