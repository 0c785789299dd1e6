import pytest

from mochat.metrics.captions import caption_scores


def test_bleu_1_is_clipped_unigram_precision():
    # 2 of 4 unigrams match, equal lengths (no brevity penalty): 2/4
    scores = caption_scores(["a b c d"], [["a b x y"]])
    assert scores["bleu_1"] == pytest.approx(50.0, abs=1e-6)


def test_no_lowercasing_and_punctuation_stays_attached():
    # "A" != "a" and "walks." != "walks": 1 of 3 unigrams match in each case
    assert caption_scores(["A man walks"], [["a man runs"]])["bleu_1"] == pytest.approx(
        100 / 3, abs=1e-6)
    assert caption_scores(["a man walks."], [["the man walks"]])["bleu_1"] == pytest.approx(
        100 / 3, abs=1e-6)


def test_surrounding_whitespace_is_stripped():
    assert caption_scores(["  a b c d \n"], [["a b c d"]])["bleu_4"] == pytest.approx(
        100.0, rel=1e-6)


def test_rouge_l_uses_longest_common_subsequence():
    # LCS("a b c d", "a c b d") = 3 -> precision = recall = 3/4 -> F = 0.75
    assert caption_scores(["a b c d"], [["a c b d"]])["rouge_l"] == pytest.approx(75.0)


def test_cider_d_of_exact_matches_is_ten():
    # Identical caption per motion, no n-gram shared across motions: every cosine is 1 and
    # the length penalty is 1, so CIDEr-D = 10 (x100 = 1000); clipping keeps it there.
    preds = ["a b c d", "e f g h"]
    scores = caption_scores(preds, [[p] for p in preds])
    assert scores["cider"] == pytest.approx(1000.0)


def test_best_reference_counts_for_bleu():
    one_ref = caption_scores(["a b c d"], [["x y z w"]])["bleu_1"]
    two_refs = caption_scores(["a b c d"], [["x y z w", "a b c d"]])["bleu_1"]
    assert one_ref == pytest.approx(0.0, abs=1e-6)
    assert two_refs == pytest.approx(100.0, abs=1e-6)


def test_misaligned_inputs_are_rejected():
    with pytest.raises(ValueError, match="2 predictions but 1"):
        caption_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="no reference"):
        caption_scores(["a"], [[]])
