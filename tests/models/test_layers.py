"""The heads of mochat/models/layers.py on hand-made inputs (no LLM)."""

import torch

from mochat.models.layers import RegressionHead

D, H = 16, 8  # LLM width, head width


def test_pooled_head_scores_a_sample_the_same_alone_and_padded_in_a_batch():
    # a 5-token motion alone, then padded to 9 tokens beside a 9-token one: its position
    # feature n / (N - 1) must use its own N (5), not the batch's (9)
    head = RegressionHead(D, H).eval()
    short, long = torch.randn(1, 5, D), torch.randn(1, 9, D)
    hidden = torch.randn(2, 7, D)  # (B, L, D), the same text length for both
    text_mask = torch.ones(2, 7, dtype=torch.bool)
    with torch.no_grad():
        alone = head(short, torch.ones(1, 5, dtype=torch.bool), hidden[:1], text_mask[:1])
        tokens = torch.cat([torch.nn.functional.pad(short, (0, 0, 0, 4)), long])  # (2, 9, D)
        mask = torch.arange(9)[None] < torch.tensor([[5], [9]])  # (2, 9)
        batched = head(tokens, mask, hidden, text_mask)
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=0)
