"""How far to trust a translation: two signals read from what the model did while producing it.

- `mean_log_prob`: the log-probability of the returned pieces, "</s>" included, divided by their number
  (no length penalty, so it compares across bundles and lengths). Near 0: every piece was an easy choice;
  far below: the model was unsure, as it tends to be on text unlike its training data.
- `attention_entropy`: the mean, over the target pieces ("</s>" row left out, since it attends to the
  end of the source by design), of the entropy of the piece's attention row divided by the log of the
  number of source positions ("</s>" included). 0: each piece looked at one source piece; 1: at all of
  them evenly. A translation with a single source position has nothing to spread over and gets 0.

`python -m export.confidence_eval` measures how well each separates Multi30k captions from
parliament text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Confidence:
    mean_log_prob: float  # per piece, "</s>" included; at most 0
    attention_entropy: float  # in [0, 1]; lower is more focused


def confidence(log_prob: float, attention: FloatArray) -> Confidence:
    """From a hypothesis' summed log-probability and its (target pieces incl. "</s>", source) attention."""
    rows, sources = attention.shape
    rows_without_end = np.asarray(attention, dtype=np.float64)[: max(rows - 1, 0)]
    if sources < 2 or rows_without_end.shape[0] == 0:
        entropy = 0.0
    else:
        terms = np.where(rows_without_end > 0.0, rows_without_end * np.log(np.maximum(rows_without_end, 1e-300)), 0.0)
        entropy = float(np.mean(-terms.sum(axis=1)) / math.log(sources))
    return Confidence(mean_log_prob=log_prob / max(rows, 1), attention_entropy=min(max(entropy, 0.0), 1.0))
