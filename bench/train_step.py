"""Training step time, fp32 against bf16 autocast, side by side in one process.

    .venv/bin/python bench/train_step.py runs/reference/recipes/align.yaml [--steps 4]
    .venv/bin/python bench/train_step.py runs/reference/recipes/encoder.yaml --encoder

With --encoder the recipe is an encoder pretraining one: its full pretraining steps
(crops, pretext loss, optimizer) are timed from the same seed in each precision.

Builds the stage's model from its recipe (the recipe `mochat train reference` writes under
`runs/reference/recipes/`), takes 8 x (steps + 1) shuffled training dialogues, and times
forward + backward of one batch (no optimizer step) alternately in fp32 and under
`torch.autocast(bfloat16)`, twice each after one warm-up step, printing seconds per step and
the losses of the same batches (so the numerics can be compared as well as the speed).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import torch  # noqa: E402

from training.encoder import EncoderRecipe, build_pretrainer  # noqa: E402
from training.lm import LMRecipe, build_model, training_rows  # noqa: E402
from training.lm_data import collate, encode_corpus  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe", help="an align or finetune stage recipe (YAML)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--encoder", action="store_true", help="an encoder pretraining recipe")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.encoder:
        encoder_steps(EncoderRecipe.from_yaml(args.recipe), args.steps)
        return
    recipe = LMRecipe.from_yaml(args.recipe)
    model = build_model(recipe)
    rows = training_rows(recipe)
    random.Random(0).shuffle(rows)
    batch_size = recipe.batch_size
    rows = rows[:batch_size * (args.steps + 1)]
    features = encode_corpus(model.encoder, recipe.corpus, (r["motion_id"] for r in rows),
                             progress=False)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    model.encoder.eval()

    def step(i: int, bf16: bool) -> tuple[float, float]:
        batch = collate(rows[batch_size * i:batch_size * (i + 1)], features, model.tokenizer,
                        model.config.pool_frames, frame_tokens=model.config.frame_tokens)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(batch.features, batch.feature_mask, batch.input_ids,
                        batch.attention_mask, batch.labels, batch.spans, batch.span_mask,
                        ce_per_sample=recipe.ce_per_sample)
        out.loss.backward()
        for param in params:
            param.grad = None
        return time.perf_counter() - start, out.loss.item()

    for bf16 in (False, True, False, True):
        step(0, bf16)
        timed = [step(i, bf16) for i in range(1, args.steps + 1)]
        mean = sum(t for t, _ in timed) / len(timed)
        print(f"{'bf16' if bf16 else 'fp32'}: {mean:.2f} s/step, losses "  # noqa: T201
              f"{[round(loss, 3) for _, loss in timed]}", flush=True)


def encoder_steps(recipe: EncoderRecipe, steps: int) -> None:
    for bf16 in (False, True, False, True):
        torch.manual_seed(0)
        run = build_pretrainer(dataclasses.replace(recipe, bf16=bf16))
        run.train_step()  # warm-up
        start = time.perf_counter()
        losses = [float(run.train_step().loss.detach()) for _ in range(steps)]
        print(f"{'bf16' if bf16 else 'fp32'}: {(time.perf_counter() - start) / steps:.2f} "  # noqa: T201
              f"s/step, losses {[round(loss, 3) for loss in losses]}", flush=True)


if __name__ == "__main__":
    main()
