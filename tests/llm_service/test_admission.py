"""Service-time estimates: moving averages of measured batches, queue waits."""

from __future__ import annotations

import pytest

from llm_service.admission import ServiceTimes


def test_service_times_are_moving_averages():
    times = ServiceTimes(alpha=0.5)
    assert not times.known and times.batch_s(8) == 0.0  # unknown: admit everything
    times.observe(first_token_s=0.2, total_s=1.0, steps=8, max_new_tokens=16)
    # prefill 0.2 s, step (1.0 - 0.2) / 8 = 0.1 s, half of the limit used
    assert times.batch_s(16) == pytest.approx(0.2 + 0.1 * 16 * 0.5)
    times.observe(first_token_s=0.4, total_s=2.0, steps=16, max_new_tokens=16)
    # prefill (0.2 + 0.4) / 2 = 0.3, step (0.1 + 0.1) / 2 = 0.1, share (0.5 + 1) / 2 = 0.75
    assert times.batch_s(16) == pytest.approx(0.3 + 0.1 * 16 * 0.75)
    times.observe(first_token_s=0.3, total_s=0.4, steps=1, max_new_tokens=16, cut_short=True)
    assert times.used_share == pytest.approx(0.75)  # a stopped batch says nothing of length
    # 5 questions, 2 to a batch: (16 16) (16 16) (16) = 3 batches
    assert times.queue_s([16] * 5, 2, 0.0) == pytest.approx(3 * times.batch_s(16))


def test_the_spread_of_batch_times_raises_the_bar_at_the_start_of_a_batch():
    times = ServiceTimes(alpha=0.5, prefill_s=0.2, step_s=0.1, used_share=1.0)
    assert times.sure_batch_s(8) == pytest.approx(1.0)  # 0.2 + 8 * 0.1, no spread yet
    times.observe(first_token_s=0.2, total_s=1.4, steps=8, max_new_tokens=8)
    # 0.4 s over the 1.0 s estimate: spread 0.5 * 0.4 = 0.2; step (0.1 + 0.15) / 2
    assert times.spread_s == pytest.approx(0.2)
    assert times.sure_batch_s(8) == pytest.approx(0.2 + 8 * 0.125 + 0.2)


def test_under_continuous_batching_a_question_waits_for_the_first_free_row():
    times = ServiceTimes(prefill_s=0.2, step_s=0.1, used_share=1.0)  # 8 tokens: 1.0 s
    times.row_ends_s = [10.5, 10.3]  # two rows running, free 0.5 s and 0.3 s from now
    # 3 rows: the third is free, the question is answered after its own 1.0 s
    assert times.queue_s([8], 3, 10.0) == pytest.approx(1.0)
    # 2 rows: it takes the one free at 0.3 s
    assert times.queue_s([8], 2, 10.0) == pytest.approx(1.3)
    # behind one queued question: that takes the 0.3 s row, it the 0.5 s one
    assert times.queue_s([8, 8], 2, 10.0) == pytest.approx(1.5)
