"""Which integer kernel ONNX Runtime uses on this CPU, asked of the CPU itself.

ONNX Runtime multiplies uint8 activations by int8 weights (MatMulInteger) with VNNI's vpdpbusd where the
CPU has it, which accumulates in 32 bits and is exact. On AVX2 without VNNI it uses vpmaddubsw, which adds
each pair of neighbouring products in 16 bits with saturation: a pair above 32,767 is cut. So a graph that
quantizes activations gives other numbers on such a CPU than on the one that made it. Reading the CPU flags
would only say what the CPU has, not which kernel ONNX Runtime picked, so `int8_kernel` runs a one-node
probe graph (export/probe.py writes it) whose exact answer is known and reports what came back.

Bundles quantized with INT8_WEIGHTS (service.runtime.manifest) compute in float32 and are not affected;
bundles with INT8_DYNAMIC are, and the registry warns when it loads one on a saturating CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

PROBE_FILE = Path(__file__).with_name("int8_probe.onnx")
PROBE_WIDTH = 64
PROBE_WEIGHT = 127
PROBE_ACTIVATION = 255
EXACT_PRODUCT = PROBE_WIDTH * PROBE_ACTIVATION * PROBE_WEIGHT  # 2,072,640
SATURATED_PRODUCT = (PROBE_WIDTH // 2) * 32_767  # every 16-bit pair sum cut at its maximum: 1,048,544
_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class Int8Kernel:
    """What the probe found: `exact` is whether u8 x s8 products reach their int32 sums unharmed."""

    exact: bool
    product: int  # the probe's answer: EXACT_PRODUCT, SATURATED_PRODUCT or something unexpected
    cpu_flags: tuple[str, ...]  # the flags of interest that /proc/cpuinfo lists (empty where it is unreadable)

    @property
    def name(self) -> str:
        if self.exact:
            return "u8s8-exact"
        if self.product == SATURATED_PRODUCT:
            return "u8s8-saturating-16bit"
        return "u8s8-unexpected"

    def describe(self) -> str:
        flags = ", ".join(self.cpu_flags) or "unknown"
        return f"{self.name} (probe {self.product:,}, exact {EXACT_PRODUCT:,}; CPU flags: {flags})"


@cache
def int8_kernel() -> Int8Kernel:
    """Runs the probe once per process; every later call returns the same answer."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(PROBE_FILE), sess_options=options, providers=["CPUExecutionProvider"])
    row = np.full((1, PROBE_WIDTH), PROBE_ACTIVATION, dtype=np.uint8)
    product = int(session.run(None, {"row": row})[0].ravel()[0])
    return Int8Kernel(product == EXACT_PRODUCT, product, cpu_flags())


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return tuple(flag for flag in _FLAGS_OF_INTEREST if flag in flags)
