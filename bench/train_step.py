"""Training step time, fp32 against bf16 autocast, side by side in one process.

    .venv/bin/python bench/train_step.py runs/reference/recipes/align.yaml [--steps 4]
    .venv/bin/python bench/train_step.py runs/reference/recipes/encoder.yaml --encoder

With --encoder the recipe is an encoder pretraining one: its full pretraining steps
(crops, pretext loss, optimizer) are timed from the same seed in each precision.

Otherwise it builds the stage's model from its recipe (the recipe `mochat train reference`
writes under `runs/reference/recipes/`), takes batch_size x (steps + 1) shuffled training
dialogues, and times forward (`training.lm.forward`, as training runs it) + backward of one
batch, without the optimizer step. Both alternate fp32 and `bf16: true`, twice each after
one warm-up step, and print seconds per step and the losses of the same batches (so the
numerics can be compared as well as the speed).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import random
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "2")

import torch  # noqa: E402

from training.encoder import EncoderRecipe, build_pretrainer  # noqa: E402
from training.lm import LMRecipe, build_model, forward, training_rows  # noqa: E402
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
        run = functools.partial(encoder_round, EncoderRecipe.from_yaml(args.recipe),
                                steps=args.steps)
    else:
        run = lm_round(LMRecipe.from_yaml(args.recipe), args.steps)
    for bf16 in (False, True, False, True):
        seconds, losses = run(bf16)
        print(f"{'bf16' if bf16 else 'fp32'}: {seconds:.2f} s/step, losses "  # noqa: T201
              f"{[round(loss, 3) for loss in losses]}", flush=True)


def lm_round(recipe: LMRecipe, steps: int) -> Callable[[bool], tuple[float, list[float]]]:
    """The stage's model and batch_size x (steps + 1) shuffled dialogues, built once; the
    returned round runs one warm-up and `steps` timed forward + backward passes through
    `training.lm.forward` (no optimizer step), in bf16 or fp32."""
    model = build_model(recipe)
    rows = training_rows(recipe)
    random.Random(0).shuffle(rows)
    size = recipe.batch_size
    rows = rows[:size * (steps + 1)]
    features = encode_corpus(model.encoder, recipe.corpus, (r["motion_id"] for r in rows),
                             progress=False)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    model.encoder.eval()

    def one(i: int, bf16: bool) -> tuple[float, float]:
        batch = collate(rows[size * i:size * (i + 1)], features, model.tokenizer,
                        model.config.pool_frames, frame_tokens=model.config.frame_tokens)
        start = time.perf_counter()
        out = forward(model, batch, dataclasses.replace(recipe, bf16=bf16))
        out.loss.backward()
        for param in params:
            param.grad = None
        return time.perf_counter() - start, out.loss.item()

    def run(bf16: bool) -> tuple[float, list[float]]:
        one(0, bf16)
        timed = [one(i, bf16) for i in range(1, steps + 1)]
        return sum(t for t, _ in timed) / steps, [loss for _, loss in timed]

    return run


def encoder_round(recipe: EncoderRecipe, bf16: bool, steps: int) -> tuple[float, list[float]]:
    """A fresh pretrainer from seed 0: one warm-up and `steps` timed `train_step`s."""
    torch.manual_seed(0)
    run = build_pretrainer(dataclasses.replace(recipe, bf16=bf16))
    run.train_step()
    start = time.perf_counter()
    losses = [float(run.train_step().loss.detach()) for _ in range(steps)]
    return (time.perf_counter() - start) / steps, losses


if __name__ == "__main__":
    main()
