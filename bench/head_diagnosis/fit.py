import sys, torch, random, time
from mochat.models.layers import RegressionHead, diou_loss
from mochat.metrics import temporal_recall
torch.manual_seed(0)
C = torch.load("/tmp/diag/cache.pt")
def pad(items):
    B = len(items); L = max(x["h"].shape[0] for x in items); N = max(x["t"].shape[0] for x in items); T = max(x["fm"].shape[0] for x in items)
    h = torch.zeros(B, L, 576); hm = torch.zeros(B, L, dtype=torch.bool); t = torch.zeros(B, N, 576); tm = torch.zeros(B, N, dtype=torch.bool); fm = torch.zeros(B, T, dtype=torch.bool)
    for i, x in enumerate(items):
        h[i,:x["h"].shape[0]] = x["h"].float(); hm[i,:x["hm"].shape[0]] = x["hm"]; t[i,:x["t"].shape[0]] = x["t"].float(); tm[i,:x["tm"].shape[0]] = x["tm"]; fm[i,:x["fm"].shape[0]] = x["fm"]
    last = (fm.sum(1, keepdim=True) - 1).clamp(min=1).float()
    span = torch.stack([x["span"].float() for x in items])
    return h, hm, t, tm, last, span
hidden = int(sys.argv[1]) if len(sys.argv) > 1 else 256
head = RegressionHead(576, hidden)
opt = torch.optim.AdamW(head.parameters(), lr=float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3, weight_decay=0.01)
tr, te = C["train"], C["test"]
TE = pad(te)
def evaluate(data):
    h, hm, t, tm, last, span = data
    with torch.no_grad(): fr = head(t, tm, h, hm)
    pred = fr * last
    return temporal_recall([tuple(p) for p in pred.tolist()], [tuple(s) for s in span.tolist()])
t0 = time.time()
for step in range(1, int(sys.argv[3]) + 1):
    items = random.sample(tr, 32)
    h, hm, t, tm, last, span = pad(items)
    fr = head(t, tm, h, hm)
    loss = diou_loss(fr, span / last)
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 200 == 0:
        print(step, round(loss.item(), 3), "train", evaluate(pad(tr[:300])), "test", evaluate(TE), round(time.time()-t0), flush=True)
