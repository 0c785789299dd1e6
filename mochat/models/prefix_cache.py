"""The prefix cache: the KV of a window's prompt prefix, reused by every question about it.

Every prompt about one motion starts the same way - the chat template, the system prompt
and the motion tokens of the first user turn - and only then differs (the question, or the
earlier turns of a session and the new question). `PrefixEntry` holds the LLM's keys and
values of that prefix, up to and including the last motion token, and the last layer's
states of it (the regression head reads them), so a second question about a window feeds
the model its own tokens only: prefill costs the question, not the motion.

Memory per cached window: 2 (K and V) x layers x KV heads x head_dim x 4 bytes (float32)
per prefix token, plus hidden_size x 4 for the head's states. SmolLM2-135M (30 layers,
3 KV heads of 64, width 576): 46,080 + 2,304 = 48,384 bytes a token; a 10 s window of the
shipped checkpoint (200 frames at pool 2: 100 motion tokens + 36 template and system
tokens = 136 tokens) is 6.58 MB (`bench/llm_service.py` prints the measured figure), so
the default 256 MB budget keeps about 38 windows.

`PrefixCache` is an LRU bounded by bytes; it is used from one thread (the model's).
Keys are the caller's: they must change whenever the prefix's KV could (model, encoder,
features, template) - `mochat.continuous` keys entries by model tag, window ids and a
digest of the features and prefix tokens.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass(frozen=True)
class PrefixEntry:
    keys: tuple[Tensor, ...]  # per layer (1, H, P, Dh)
    values: tuple[Tensor, ...]  # per layer (1, H, P, Dh)
    hidden: Tensor | None  # (P, D) last-layer states (for the regression head), or None

    @classmethod
    def from_cache(cls, cache: DynamicCache, tokens: int, hidden: Tensor | None
                   ) -> PrefixEntry:
        """The first `tokens` positions of a one-row cache (copied: the entry must not pin
        the whole prompt's tensors) and of its states `hidden` (L, D)."""
        keys, values = [], []
        for layer in kv_layers(cache):
            k, v = kv(layer)
            keys.append(k[:, :, :tokens].clone())  # (1, H, P, Dh)
            values.append(v[:, :, :tokens].clone())
        return cls(tuple(keys), tuple(values),
                   None if hidden is None else hidden[:tokens].clone())

    @property
    def tokens(self) -> int:
        return int(self.keys[0].shape[-2])

    @property
    def nbytes(self) -> int:
        kv = sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))
        return kv + (0 if self.hidden is None else self.hidden.numel() *
                     self.hidden.element_size())

    def cache(self) -> DynamicCache:
        """A fresh one-row cache holding copies of the prefix (decoding never touches the
        entry)."""
        return DynamicCache(ddp_cache_data=list(zip(self.keys, self.values, strict=True)))


def kv_layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The layers of a cache of full-attention layers (what batching rows of it needs)."""
    layers = [layer for layer in cache.layers if isinstance(layer, DynamicLayer)]
    assert len(layers) == len(cache.layers), "a cache layer that is not a DynamicLayer"
    return layers


def kv(layer: DynamicLayer) -> tuple[Tensor, Tensor]:
    """A filled layer's keys and values, (B, H, S, Dh) each."""
    assert layer.keys is not None and layer.values is not None, "an empty cache layer"
    return layer.keys, layer.values


class PrefixCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, PrefixEntry] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def tokens(self) -> int:
        """Prefix tokens held over all entries."""
        return sum(entry.tokens for entry in self._entries.values())

    def get(self, key: Hashable) -> PrefixEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, entry: PrefixEntry) -> bool:
        """Keep `entry`, evicting the least recently used ones to fit; False when it is
        larger than the whole budget (it is not kept)."""
        size = entry.nbytes
        if size > self.max_bytes:
            return False
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        while self._entries and self.bytes + size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.nbytes
            self.evictions += 1
        self._entries[key] = entry
        self.bytes += size
        return True
