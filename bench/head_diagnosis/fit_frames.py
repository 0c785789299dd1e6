"""Fit a per-frame boundary head on the prompt-only cache of cache2.py (session 3)."""
import math, sys, random, time, torch
from torch import nn
import torch.nn.functional as F
from mochat.models.layers import diou_loss
from mochat.metrics import temporal_recall
torch.manual_seed(0); random.seed(0)
C = torch.load("/tmp/diag/cache.pt")
class FrameHead(nn.Module):
    def __init__(s, D, H):
        super().__init__()
        s.nm, s.nh = nn.LayerNorm(D), nn.LayerNorm(D)
        s.q, s.k, s.v = nn.Linear(D, H), nn.Linear(D, H), nn.Linear(D, H)
        s.mix = nn.Sequential(nn.Linear(3 * H, H), nn.GELU())
        s.convs = nn.ModuleList(nn.Conv1d(H, H, 5, padding=2) for _ in range(2))
        s.out = nn.Linear(H, 2)
    def forward(s, t, tm, h, hm):
        q = s.q(s.nm(t)); kk = s.nh(h); k, v = s.k(kk), s.v(kk)
        a = (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).masked_fill(~hm[:, None], -1e9).softmax(-1)
        c = a @ v
        x = s.mix(torch.cat([q, c, q * c], -1)) * tm[..., None]
        for conv in s.convs:
            x = (x + F.gelu(conv(x.transpose(1, 2)).transpose(1, 2))) * tm[..., None]
        return s.out(x).masked_fill(~tm[..., None], -1e9)  # (B, N, 2)
def pad(items):
    B = len(items); L = max(x["h"].shape[0] for x in items); N = max(x["t"].shape[0] for x in items)
    h = torch.zeros(B, L, 576); hm = torch.zeros(B, L, dtype=torch.bool); t = torch.zeros(B, N, 576); tm = torch.zeros(B, N, dtype=torch.bool)
    for i, x in enumerate(items):
        h[i,:x["h"].shape[0]] = x["h"].float(); hm[i,:x["hm"].shape[0]] = x["hm"]; t[i,:x["t"].shape[0]] = x["t"].float(); tm[i,:x["tm"].shape[0]] = x["tm"]
    last = torch.tensor([[x["fm"].sum().item() - 1] for x in items]).float()
    span = torch.stack([x["span"].float() for x in items])
    return h, hm, t, tm, last, span
P = 4; H = int(sys.argv[1]); lr = float(sys.argv[2]); steps = int(sys.argv[3]); mode = sys.argv[4]
head = FrameHead(576, H)
opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
tr, te = C["train"], C["test"]; TE = pad(te); TR = pad(tr[:300])
def soft(logits, tm, last):
    n = torch.arange(logits.shape[1]).float()
    p = logits.softmax(1)  # (B, N, 2)
    e = (p * n[None, :, None]).sum(1) * P + torch.tensor([0.0, P - 1.0])
    return torch.minimum(e, last) / last
def decode(logits, last):
    s, e = logits[..., 0], logits[..., 1]
    score = s[:, :, None] + e[:, None, :]
    N = s.shape[1]; score = score.masked_fill(torch.ones(N, N).tril(-1).bool()[None], -1e18)
    idx = score.flatten(1).argmax(1)
    fr = torch.stack([idx // N * P, idx % N * P + P - 1], 1).float()
    return torch.minimum(fr, last)
def evaluate(data):
    h, hm, t, tm, last, span = data
    with torch.no_grad(): lg = head(t, tm, h, hm)
    a = temporal_recall([tuple(p) for p in decode(lg, last).tolist()], [tuple(x) for x in span.tolist()])
    b = temporal_recall([tuple(p) for p in (soft(lg, tm, last) * last).tolist()], [tuple(x) for x in span.tolist()])
    return {k[7:]: round(v) for k, v in a.items() if k.startswith("r1")}, {k[7:]: round(v) for k, v in b.items() if k.startswith("r1")}
t0 = time.time()
for step in range(1, steps + 1):
    h, hm, t, tm, last, span = pad(random.sample(tr, 32))
    lg = head(t, tm, h, hm)
    loss = 5 * diou_loss(soft(lg, tm, last), span / last)
    if mode == "ce":
        tgt = torch.minimum(span.long() // P, tm.sum(1, keepdim=True) - 1)
        loss = loss + F.cross_entropy(lg[..., 0], tgt[:, 0]) + F.cross_entropy(lg[..., 1], tgt[:, 1])
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 200 == 0:
        print(step, round(loss.item(), 3), "train", evaluate(TR), "test", evaluate(TE), round(time.time() - t0), flush=True)
