"""The batched logits (one gather and segment sums for many texts) equal each text's own logits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.textmodel.heads import _segment_sums
from services.nlp.fast_path import FastPath

_TEXTS = st.lists(
    st.one_of(st.just(""), st.just("   "), st.text(max_size=60), st.sampled_from(["book 30 people", "gyoza!!"])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_TEXTS)
def test_batched_logits_equal_the_per_text_logits(fast_path: FastPath, texts: list[str]) -> None:
    batched = fast_path.heads.logits_batch(texts)
    one_by_one = np.stack([fast_path.heads.logits(text) for text in texts])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-4, atol=1e-4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=8))
def test_segment_sums_give_zeros_for_empty_segments(lengths: list[int]) -> None:
    table = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    ids = [index % 5 for index in range(sum(lengths))]
    starts = np.cumsum([0, *lengths[:-1]]).astype(np.int64) if lengths else np.zeros(0, dtype=np.int64)
    expected = np.zeros((len(lengths), 3), dtype=np.float32)
    position = 0
    for segment, length in enumerate(lengths):
        expected[segment] = table[ids[position : position + length]].sum(axis=0)
        position += length
    np.testing.assert_allclose(_segment_sums(table, ids, starts), expected)
