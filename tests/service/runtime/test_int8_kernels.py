"""The same bundle gives the same answer on any x86-64 CPU and in any batch.

ONNX Runtime's u8 x s8 kernels saturate 16-bit pair sums on AVX2 CPUs without VNNI, and a run-time activation
scale is the whole batch's; heed's int8 bundles therefore quantize weights only (export/quantize.py). These tests
run the shipped bundles natively and, where qemu-user is installed, under `qemu-x86_64 -cpu Haswell`: an AVX2 CPU
without AVX-512 or VNNI, emulated instruction by instruction, so the AVX2 kernels really run whatever the host is.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.runtime import Translator
from service.runtime.cpu import EXACT_PRODUCT, SATURATED_PRODUCT, Int8Kernel, cpu_flags, int8_kernel
from service.runtime.manifest import INT8_WEIGHTS

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
SHIPPED = ("en-de", "en-fr")
SENTENCES = [
    "A man in a blue shirt is standing on a ladder.",
    "Two dogs play in the snow.",
    "A little girl climbs into a wooden playhouse.",
    "People are walking down a busy city street at night.",
    "A woman with a red umbrella waits for the bus while a boy rides his bike past her.",
    "Ok.",
]
ATTENTION_TOLERANCE = 1e-5  # float32 sums in another order (AVX2 vs AVX-512 vectors) move weights by ~1e-6
SCORE_TOLERANCE = 1e-4
AVX2_CPU = "Haswell"  # AVX2 and FMA, no AVX-512, no VNNI


def _qemu() -> str:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None or platform.machine() != "x86_64":
        if os.environ.get("HEED_REQUIRE_QEMU"):
            pytest.fail("qemu-x86_64 is required here (HEED_REQUIRE_QEMU): apt-get install qemu-user")
        pytest.skip("qemu-user not found (apt-get install qemu-user): the emulated AVX2 CPU tests need qemu-x86_64")
    return qemu


def _run_on_avx2(code: str) -> str:
    command = [_qemu(), "-cpu", AVX2_CPU, sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _answers(bundle: str, sentences: list[str]) -> list[dict[str, object]]:
    """Greedy text, score and attention of each sentence, translated one at a time."""
    translator = Translator.load(ARTIFACTS / bundle, intra_op_threads=1, inter_op_threads=1)
    return [
        {"text": t.text, "score": t.score, "attention": t.attention.tolist()}
        for t in (translator.translate_batch([s], beam_size=1)[0] for s in sentences)
    ]


def _assert_same_answers(expected: list[dict[str, object]], found: list[dict[str, object]]) -> None:
    for mine, theirs in zip(expected, found, strict=True):
        assert mine["text"] == theirs["text"]
        assert abs(float(mine["score"]) - float(theirs["score"])) <= SCORE_TOLERANCE  # type: ignore[arg-type]
        difference = np.abs(np.array(mine["attention"]) - np.array(theirs["attention"])).max()
        assert difference <= ATTENTION_TOLERANCE, (mine["text"], difference)


def test_the_probe_reports_what_this_cpu_computes() -> None:
    kernel = int8_kernel()
    assert kernel.product in (EXACT_PRODUCT, SATURATED_PRODUCT), kernel.describe()
    assert kernel.exact == (kernel.product == EXACT_PRODUCT)
    assert kernel.name == ("u8s8-exact" if kernel.exact else "u8s8-saturating-16bit")
    if "avx512_vnni" in kernel.cpu_flags:
        assert kernel.exact  # VNNI's vpdpbusd accumulates in 32 bits


def test_an_emulated_avx2_cpu_saturates_and_the_probe_says_so() -> None:
    out = _run_on_avx2("from service.runtime.cpu import int8_kernel; k = int8_kernel(); print(k.product, k.name)")
    assert out.split() == [str(SATURATED_PRODUCT), "u8s8-saturating-16bit"]


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n")
    assert cpu_flags(cpuinfo) == ("avx2", "avx512f", "avx512_vnni")
    assert cpu_flags(tmp_path / "absent") == ()
    assert Int8Kernel(False, 12, ()).name == "u8s8-unexpected"


@pytest.mark.parametrize("bundle", SHIPPED)
def test_shipped_bundles_quantize_weights_only(bundle: str) -> None:
    assert Translator.load(ARTIFACTS / bundle).bundle.quantization == INT8_WEIGHTS


def test_shipped_bundles_answer_the_same_on_an_avx2_cpu() -> None:
    code = (
        f"import json, sys; sys.path.insert(0, {str(ARTIFACTS.parent)!r}); "
        "from tests.service.runtime.test_int8_kernels import _answers, SHIPPED, SENTENCES; "
        "print(json.dumps({b: _answers(b, SENTENCES) for b in SHIPPED}))"
    )
    emulated = json.loads(_run_on_avx2(code))
    for bundle in SHIPPED:
        _assert_same_answers(_answers(bundle, SENTENCES), emulated[bundle])


@pytest.mark.parametrize("bundle", SHIPPED)
def test_a_sentence_gets_the_same_answer_alone_and_in_any_batch(bundle: str) -> None:
    translator = Translator.load(ARTIFACTS / bundle)
    beam = translator.default_beam_size
    together = translator.translate_batch(SENTENCES, beam_size=beam)
    reversed_batch = translator.translate_batch(SENTENCES[::-1], beam_size=beam)[::-1]
    for index, sentence in enumerate(SENTENCES):
        alone = translator.translate_batch([sentence], beam_size=beam)[0]
        for other in (together[index], reversed_batch[index]):
            assert (other.text, other.alignment) == (alone.text, alone.alignment)
            assert abs(other.score - alone.score) <= SCORE_TOLERANCE
            assert np.abs(other.attention - alone.attention).max() <= ATTENTION_TOLERANCE
