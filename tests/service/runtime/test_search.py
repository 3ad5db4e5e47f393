"""The search's own building blocks, on hand-made scores."""

from __future__ import annotations

import numpy as np

from service.runtime.manifest import SpecialTokens
from service.runtime.search import row_top_k, selectable_scores

SPECIAL = SpecialTokens(pad=0, unk=1, bos=2, eos=3)


def test_row_top_k_ranks_each_row_with_ties_in_token_order() -> None:
    scores = np.array([[0.1, 0.5, 0.5, -1.0, 0.5], [-np.inf, -2.0, -1.0, -3.0, -np.inf]], dtype=np.float32)
    tokens, values = row_top_k(scores.copy(), 4)
    assert tokens.tolist() == [[1, 2, 4, 0], [2, 1, 3, 0]]
    assert values[0].tolist() == [0.5, 0.5, 0.5, np.float32(0.1)]
    assert values[1, 3] == -np.inf  # rows run out of finite candidates; the search skips those


def test_row_top_k_never_asks_for_more_than_the_vocabulary() -> None:
    tokens, values = row_top_k(np.array([[0.2, 0.1]], dtype=np.float32), 16)
    assert tokens.tolist() == [[0, 1]] and values.shape == (1, 2)


def test_padding_and_bos_are_never_chosen_and_rows_at_the_limit_can_only_end() -> None:
    log_probs = np.log(np.full((2, 6), 1 / 6, dtype=np.float32))
    log_probs[:, 0] = 0.0  # padding would win if it were allowed
    selectable = selectable_scores(log_probs, SPECIAL, np.array([False, True]))
    assert np.isneginf(selectable[:, [0, 2]]).all()
    assert np.isfinite(selectable[0, [1, 3, 4, 5]]).all()
    assert np.flatnonzero(np.isfinite(selectable[1])).tolist() == [3]
    assert selectable[1, 3] == log_probs[1, 3]  # the end keeps its real log-probability
    assert log_probs[0, 0] == 0.0  # the decoder's output is left as it was
