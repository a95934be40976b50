"""Long texts read whole: a text longer than the encoder's window is cut into overlapping
windows, each embedded on its own, and the text's embedding is the mean of its windows'.

`encode_windows` needs only a tokenizer and NumPy, so the ONNX predictor windows a text
exactly as training and `predict` do. Its `window_weights` (texts x windows, each row
summing to 1) turn the windows' embeddings into the texts' with one matrix product,
which the exported graph carries as an input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_WINDOWS = 16  # per text: 16 windows of 256 tokens read about 3,000 tokens
OVERLAP = 0.25  # of a window, shared with the next one
WINDOW_POOL = "mean"  # the windows' embeddings averaged with equal weights ("length": by tokens)


def windows_of(ids: list[int], body: int, max_windows: int) -> list[list[int]]:
    """The token ids (special tokens left out) of one text as overlapping windows of at
    most `body` tokens, starting every `body * (1 - OVERLAP)` tokens; at most
    `max_windows` of them, the last one ending with the text when it fits."""
    if len(ids) <= body:
        return [ids]
    stride = max(1, int(body * (1 - OVERLAP)))
    starts = list(range(0, len(ids) - body + stride, stride))
    starts = [min(s, len(ids) - body) for s in starts]
    starts = sorted(set(starts))[:max_windows]
    return [ids[s : s + body] for s in starts]


def encode_windows(
    tokenizer: Any, texts: list[str], max_length: int, max_windows: int = MAX_WINDOWS
) -> dict[str, np.ndarray]:
    """`input_ids` and `attention_mask` with one row per window (padded to the longest),
    and `window_weights` (texts x windows)."""
    prefix, suffix = special_tokens(tokenizer)
    body = window_body(tokenizer, max_length)
    rows: list[list[int]] = []
    owners: list[int] = []
    lengths: list[int] = []
    # a text beyond what its windows can read is cut first (about 16 characters a token)
    most = max_windows * max_length * 16
    plain = tokenizer([str(t)[:most] for t in texts], add_special_tokens=False, truncation=False)
    for i, ids in enumerate(plain["input_ids"]):
        parts = windows_of(list(ids), body, max_windows)
        for part in parts:
            rows.append([*prefix, *part, *suffix])
            owners.append(i)
            lengths.append(max(1, len(part)))
    padded = tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="np")
    weights = np.zeros((len(texts), len(rows)), dtype=np.float32)
    for row, (owner, n) in enumerate(zip(owners, lengths, strict=True)):
        weights[owner, row] = n if WINDOW_POOL == "length" else 1.0
    weights /= weights.sum(1, keepdims=True)
    inputs = {
        "input_ids": padded["input_ids"].astype(np.int64),
        "attention_mask": padded["attention_mask"].astype(np.int64),
        "window_weights": weights,
    }
    return inputs


def window_body(tokenizer: Any, max_length: int) -> int:
    """The tokens of text one window holds: `max_length` less the special tokens."""
    prefix, suffix = special_tokens(tokenizer)
    return max(1, max_length - len(prefix) - len(suffix))


def text_lengths(tokenizer: Any, texts: list[str], most_tokens: int) -> list[int]:
    """Each text's token count without special tokens (a text is cut at about 16
    characters a token past `most_tokens` first, as `encode_windows` cuts it)."""
    lengths: list[int] = []
    for start in range(0, len(texts), 256):
        chunk = [t[: most_tokens * 16] for t in texts[start : start + 256]]
        ids = tokenizer(chunk, add_special_tokens=False, truncation=False)["input_ids"]
        lengths.extend(len(i) for i in ids)
    return lengths


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text (BERT: [CLS], [SEP])."""
    full = list(tokenizer("a")["input_ids"])
    content = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    for i in range(len(full) - len(content) + 1):
        if full[i : i + len(content)] == content:
            return full[:i], full[i + len(content) :]
    return [], []


def settings() -> dict[str, Any]:
    """What decides a windowed embedding, for the backbone's preprocessing (the cache key)."""
    return {"windows": MAX_WINDOWS, "window_overlap": OVERLAP, "window_pool": WINDOW_POOL}
