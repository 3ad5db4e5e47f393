"""Writes service/runtime/int8_probe.onnx, the one-node graph with which the runtime asks this CPU how ONNX
Runtime multiplies uint8 by int8.

    python -m export.probe [--out service/runtime/int8_probe.onnx]

The graph is MatMulInteger of a uint8 row (1, 64) by a constant int8 column of 127s. Fed 64 values of 255,
the exact product is 64 x 255 x 127 = 2,072,640. Where ONNX Runtime's kernel adds neighbouring u8 x s8
products in 16 bits first (AVX2's vpmaddubsw, on CPUs without VNNI), each pair saturates at 32,767 and the
result is 32 x 32,767 = 1,048,544. The serving package does not depend on `onnx`, so the file ships with it;
tests/export/test_probe.py checks that it is exactly what this module writes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model.cli import OneLineParser
from service.runtime.cpu import PROBE_FILE, PROBE_WEIGHT, PROBE_WIDTH

OPSET = 17


def probe_graph() -> onnx.ModelProto:
    row = helper.make_tensor_value_info("row", TensorProto.UINT8, [1, PROBE_WIDTH])
    product = helper.make_tensor_value_info("product", TensorProto.INT32, [1, 1])
    column = numpy_helper.from_array(np.full((PROBE_WIDTH, 1), PROBE_WEIGHT, np.int8), "column")
    node = helper.make_node("MatMulInteger", ["row", "column"], ["product"], name="probe")
    graph = helper.make_graph([node], "int8_probe", [row], [product], [column])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="heed")
    model.ir_version = 8  # readable by every ONNX Runtime release heed supports
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m export.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(PROBE_FILE), help="where to write the graph")
    args = parser.parse_args(argv)
    Path(args.out).write_bytes(probe_graph().SerializeToString())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
