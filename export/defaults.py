"""Export defaults, importable without torch (the CLI parses its arguments before loading anything)."""

DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(14, 21)  # ONNX GRU with dynamic shapes works from 14; 20 is the TorchScript exporter's maximum
DEFAULT_CHECK_LIMIT = 100  # sentences the self-check translates at most
FP32_TOLERANCE = 1e-4  # max abs difference between ONNX Runtime and PyTorch, per tensor
DEFAULT_MIN_INT8_AGREEMENT = 0.8  # share of check sentences whose int8 greedy output must equal the float32 one
