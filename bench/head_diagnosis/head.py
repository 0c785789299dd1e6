import json, sys, time, random, torch
from mochat.models.mochat import MoChat
from mochat.models.chat_format import parse_span
from mochat.pipeline import MoChatPipeline, Conversation
from mochat.models.generate import greedy_decode
from mochat.metrics import temporal_recall
from training.lm_data import read_dialogues, encode_corpus, collate, first_turn
torch.manual_seed(0)
model = MoChat.from_pretrained("models/mochat-smollm2-synth").eval()
ntrain = int(sys.argv[1])
tr = read_dialogues("data/dialogues", "train", tasks=["temporal"]); random.Random(0).shuffle(tr); tr = tr[:ntrain]
te = read_dialogues("data/dialogues", "test", tasks=["temporal"], limit_per_task=100, seed=0)
feats = encode_corpus(model.encoder, "data/synth", [r["motion_id"] for r in tr + te], progress=False)
cache = []
t0 = time.time()
with torch.no_grad():
    for i in range(0, len(tr), 16):
        rows = tr[i:i+16]
        b = collate(rows, feats, model.tokenizer, model.config.pool_frames)
        emb, tok, tmask = model.build_inputs(b.features, b.feature_mask, b.input_ids)
        out = model.llm(inputs_embeds=emb, attention_mask=b.attention_mask, output_hidden_states=True, logits_to_keep=1)
        h = out.hidden_states[-1]
        for j in range(len(rows)):
            cache.append(dict(h=h[j].half(), hm=b.attention_mask[j].bool(), t=tok[j].half(), tm=tmask[j], fm=b.feature_mask[j], span=b.spans[j]))
print("train cache", len(cache), time.time()-t0, flush=True)
# test: inference condition
pipe = MoChatPipeline(model, max_new_tokens=32)
test_cache, text_preds, head_preds, gts = [], [], [], []
tok_ = model.tokenizer
from mochat.models.chat_format import encode_chat
with torch.no_grad():
    for i in range(0, len(te), 8):
        rows = te[i:i+8]
        items = [(Conversation(feats[r["motion_id"]]), first_turn(r)[0]) for r in rows]
        frames = [c.features.shape[0] for c, _ in items]
        F = torch.zeros(len(items), max(frames), items[0][0].features.shape[1]); M = torch.zeros(len(items), max(frames), dtype=torch.bool)
        for k,(c,_) in enumerate(items): F[k,:frames[k]] = c.features; M[k,:frames[k]] = True
        prompts = [encode_chat(tok_, c.messages(q), num_motion_tokens=-(-t//model.config.pool_frames), generation_prompt=True).input_ids for (c,q),t in zip(items, frames)]
        gen = greedy_decode(model, F, M, prompts, max_new_tokens=32, stop_ids=pipe.stop_ids, keep_hidden=True)
        fr, last = model.head_fractions(gen.motion_tokens, gen.motion_mask, gen.hidden, gen.hidden_mask, M)
        hs = fr * last
        for k, r in enumerate(rows):
            txt = tok_.decode(gen.token_ids[k], skip_special_tokens=True)
            p = parse_span(txt); text_preds.append(p if p else (-1.,-1.)); head_preds.append(tuple(hs[k].tolist())); gts.append(tuple(map(float, r["span"])))
            test_cache.append(dict(h=gen.hidden[k].half(), hm=gen.hidden_mask[k].bool(), t=gen.motion_tokens[k].half(), tm=gen.motion_mask[k], fm=M[k], span=torch.tensor(r["span"])))
        if i == 0: print([tok_.decode(g, skip_special_tokens=True) for g in gen.token_ids[:4]], gts[:4])
print("text R@1", temporal_recall(text_preds, gts)); print("shipped head R@1", temporal_recall(head_preds, gts), flush=True)
torch.save({"train": cache, "test": test_cache}, "/tmp/diag/cache.pt")
