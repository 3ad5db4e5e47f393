"""Typed failures of an export; the CLI prints each as one line and exits non-zero."""

from __future__ import annotations


class ExportError(Exception):
    """The export could not produce a bundle that can be trusted."""


class ExportInputError(ExportError):
    """A checkpoint, sentence file, option or output folder that cannot be used."""


class GraphExportError(ExportError):
    """torch.onnx failed, or produced a graph ONNX or ONNX Runtime rejects."""


class ManifestError(ExportError):
    """A manifest that is missing, malformed, or disagrees with the files beside it."""


class ParityError(ExportError):
    """ONNX Runtime and PyTorch disagree beyond the tolerance, or pick different greedy tokens.

    Says which graph and tensor differed, on which sentence and decoding step, and by how much.
    """

    def __init__(
        self,
        graph: str,
        tensor: str,
        *,
        difference: float | None = None,
        tolerance: float | None = None,
        sentence: str | None = None,
        step: int | None = None,
        detail: str = "",
    ) -> None:
        self.graph = graph
        self.tensor = tensor
        self.difference = difference
        self.tolerance = tolerance
        self.sentence = sentence
        self.step = step
        self.detail = detail
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.graph} {self.tensor!r}: ONNX Runtime and PyTorch disagree"
        if self.difference is not None:
            text += f" by {self.difference:.3g} (max abs diff"
            text += f"; tolerance {self.tolerance:.3g})" if self.tolerance is not None else ")"
        if self.detail:
            text += f", {self.detail}"
        if self.step is not None:
            text += f", at decoding step {self.step}"
        if self.sentence is not None:
            text += f", on sentence {self.sentence!r}"
        return text


class QuantizationError(ExportError):
    """Quantization failed, or the quantized graphs drift too far from the float ones."""
