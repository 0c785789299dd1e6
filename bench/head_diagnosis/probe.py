import json, sys, torch, numpy as np
from pathlib import Path
from mochat.models.checkpoint import load_encoder
from training.lm_data import encode_corpus
enc = load_encoder(sys.argv[1])
root = Path("data/synth")
tr = root.joinpath("train.txt").read_text().split()[:800]
te = root.joinpath("test.txt").read_text().split()[:300]
feats = encode_corpus(enc, root, tr + te, progress=False)
def rows(ids, pool):
    X, y = [], []
    for m in ids:
        spans = json.loads((root/"spans"/f"{m}.json").read_text())["actions"]
        f = feats[m]
        for a in spans:
            if a["side"] in ("left", "right"):
                s, e = a["start"], a["end"]
                X.append(pool(f[s:e+1])); y.append(a["side"] == "left")
    return torch.stack(X), torch.tensor(y, dtype=torch.float)
for name, pool in [("mean", lambda f: f.mean(0)), ("meanmax", lambda f: torch.cat([f.mean(0), f.amax(0)]))]:
    Xtr, ytr = rows(tr, pool); Xte, yte = rows(te, pool)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xte = (Xtr-mu)/sd, (Xte-mu)/sd
    lin = torch.nn.Linear(Xtr.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), 1e-2, weight_decay=1e-3)
    for _ in range(500):
        opt.zero_grad(); l = torch.nn.functional.binary_cross_entropy_with_logits(lin(Xtr)[:,0], ytr); l.backward(); opt.step()
    acc = ((lin(Xte)[:,0] > 0).float() == yte).float().mean()
    tracc = ((lin(Xtr)[:,0] > 0).float() == ytr).float().mean()
    print(name, "side probe: train", len(ytr), float(tracc), "test", len(yte), float(acc))
