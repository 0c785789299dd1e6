"""Caption vocabulary: the distinct words of a corpus's captions (either corpus version)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def caption_words(text: str) -> list[str]:
    """Lower-cased words of one caption; punctuation dropped, "one-two" kept whole.

    >>> caption_words("A man waves his left hand, then sits down.")
    ['a', 'man', 'waves', 'his', 'left', 'hand', 'then', 'sits', 'down']
    """
    return _WORD.findall(text.lower())


def vocabulary(texts: Iterable[str]) -> Counter[str]:
    """Word -> count over captions."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(caption_words(text))
    return counts


def corpus_vocabulary(root: str | Path) -> Counter[str]:
    """Word -> count over every caption in a HumanML3D-layout corpus's texts/."""
    def captions() -> Iterable[str]:
        for path in sorted((Path(root) / "texts").glob("*.txt")):
            for line in path.read_text().splitlines():
                if line.strip():
                    yield line.split("#", 1)[0]
    return vocabulary(captions())
