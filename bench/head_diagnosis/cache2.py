import sys, random, time, torch
from mochat.models.mochat import MoChat
from mochat.pipeline import Conversation
from mochat.models.chat_format import encode_chat
from mochat.models.layers import splice_motion
from training.lm_data import read_dialogues, encode_corpus, first_turn
import mochat.models.mochat as mm
mm.MoChat.load_trainable_state = lambda self, d: self.load_state_dict({k: v for k, v in mm.load_file(str(mm.Path(d) / mm.WEIGHTS_FILE)).items() if not k.startswith("head.")}, strict=False)
model = MoChat.from_pretrained(sys.argv[1]).eval()
tr = read_dialogues("data/dialogues", "train", tasks=["temporal"]); random.Random(0).shuffle(tr); tr = tr[:int(sys.argv[2])]
te = read_dialogues("data/dialogues", "test", tasks=["temporal"], limit_per_task=100, seed=0)
feats = encode_corpus(model.encoder, "data/synth", [r["motion_id"] for r in tr + te], progress=False)
tok = model.tokenizer
def run(rows):
    out = []
    for i in range(0, len(rows), 16):
        chunk = rows[i:i+16]
        items = [(Conversation(feats[r["motion_id"]]), first_turn(r)[0]) for r in chunk]
        frames = [c.features.shape[0] for c, _ in items]
        F = torch.zeros(len(items), max(frames), feats[chunk[0]["motion_id"]].shape[1]); M = torch.zeros(len(items), max(frames), dtype=torch.bool)
        for k,(c,_) in enumerate(items): F[k,:frames[k]] = c.features; M[k,:frames[k]] = True
        ids = [encode_chat(tok, c.messages(q), num_motion_tokens=-(-t//model.config.pool_frames), generation_prompt=True).input_ids for (c,q),t in zip(items, frames)]
        L = max(map(len, ids)); I = torch.full((len(ids), L), tok.pad_token_id or 0); A = torch.zeros(len(ids), L, dtype=torch.long)
        for k, x in enumerate(ids): I[k,:len(x)] = torch.tensor(x); A[k,:len(x)] = 1
        with torch.no_grad():
            emb, t, tm = model.build_inputs(F, M, I)
            h = model.llm(inputs_embeds=emb, attention_mask=A, output_hidden_states=True, logits_to_keep=1).hidden_states[-1]
        for k, r in enumerate(chunk):
            out.append(dict(h=h[k].half(), hm=A[k].bool(), t=t[k].half(), tm=tm[k], fm=M[k], span=torch.tensor(r["span"])))
    return out
t0 = time.time()
C = {"train": run(tr), "test": run(te)}
print("cached", time.time() - t0)
torch.save(C, sys.argv[3])
