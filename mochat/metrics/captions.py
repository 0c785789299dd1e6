"""Caption metrics with the paper's protocol: COCO-caption BLEU, ROUGE-L and CIDEr-D.

Protocol of the MoChat evaluation script (reproduces Table 1 to two decimals): strip each
caption and hand the string to pycocoevalcap's scorers unchanged: no PTB tokenizer, no
lowercasing, punctuation stays attached. BLEU and CIDEr split on whitespace; ROUGE-L splits
on single spaces. pycocoevalcap's `Cider` is CIDEr-D (clipped n-gram counts, Gaussian length
penalty with sigma 6, x10), the variant the paper reports as CIDEr.
Scores are percentages (x100), keyed as in `mochat eval captions --json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mochat.metrics.bertscore import BertScorer

CAPTION_KEYS = ("bleu_1", "bleu_4", "rouge_l", "cider")


def caption_scores(preds: Sequence[str], refs: Sequence[Sequence[str]], *,
                   bertscore: bool = False,
                   scorer: BertScorer | None = None) -> dict[str, float]:
    """Corpus scores (x100) of `preds[i]` against its references `refs[i]` (one or more).

    Returns `bleu_1`, `bleu_4`, `rouge_l`, `cider`, and `bertscore_minilm` when `bertscore`
    is true (or a `scorer` is given; pass one to reuse the loaded model across calls).
    """
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as err:
        raise ImportError("caption metrics need pycocoevalcap: pip install 'mochat[eval]'") \
            from err
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} reference lists")
    if not preds:
        raise ValueError("no captions to score")
    for i, rs in enumerate(refs):
        if not rs:
            raise ValueError(f"prediction {i} has no reference")
    res = {i: [p.strip()] for i, p in enumerate(preds)}
    gts = {i: [r.strip() for r in rs] for i, rs in enumerate(refs)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    scores = {"bleu_1": 100.0 * bleu[0], "bleu_4": 100.0 * bleu[3],
              "rouge_l": 100.0 * float(rouge), "cider": 100.0 * float(cider)}
    if bertscore or scorer is not None:
        from mochat.metrics.bertscore import bertscore_minilm

        scores["bertscore_minilm"] = bertscore_minilm(
            [p.strip() for p in preds], [[r.strip() for r in rs] for rs in refs], scorer)
    return scores
