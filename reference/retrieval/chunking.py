"""Chunking of extracted text, following OpenAI's vector store chunking strategies.

Spec (openai-openapi.yaml):
- AutoChunkingStrategyRequestParam: "The default strategy. This strategy currently uses a
  `max_chunk_size_tokens` of `800` and `chunk_overlap_tokens` of `400`."
- StaticChunkingStrategy: `max_chunk_size_tokens` "The minimum value is `100` and the maximum
  value is `4096`"; `chunk_overlap_tokens`: "the overlap must not exceed half of
  `max_chunk_size_tokens`". Both are required, and no other keys are allowed
  (`additionalProperties: false`).

Token counting is a deterministic approximation, so that no tokenizer has to be downloaded: a
token is either a run of at most `WORD_PIECE_CHARS` (6) letters/digits/underscores or one other
non-space character. Common English words are one token (as in BPE vocabularies), a long word
is split into 6-character pieces ("retrieval" -> "retrie" + "val", two tokens as in cl100k),
and every punctuation mark counts as one. Whitespace is never a token. On English prose this
lands within about 20% of tiktoken's counts, which is all chunk sizing needs.

Chunks are windows over the token sequence: chunk i holds tokens
`[i * step, i * step + max_chunk_size_tokens)` with `step = max - overlap`, so consecutive
chunks share exactly `chunk_overlap_tokens` tokens, and the last window ends at the last token.
A chunk's text is the original text from its first token's start to its last token's end
(inner whitespace and newlines preserved), so `text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference.retrieval.errors import InvalidChunkingStrategy

WORD_PIECE_CHARS = 6
_TOKEN = re.compile(rf"\w{{1,{WORD_PIECE_CHARS}}}|[^\w\s]")

AUTO_MAX_CHUNK_SIZE_TOKENS = 800
AUTO_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE_TOKENS = 100
MAX_CHUNK_SIZE_TOKENS = 4096

PARAM = "chunking_strategy"


@dataclass(frozen=True)
class Chunk:
    """One chunk: its text, its character span in the source text, and its token count."""

    index: int
    text: str
    start: int
    end: int
    token_count: int


@dataclass(frozen=True)
class StaticStrategy:
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int

    def as_dict(self) -> dict[str, Any]:
        """The StaticChunkingStrategyResponseParam shape stored on a vector_store.file."""
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


AUTO = StaticStrategy(AUTO_MAX_CHUNK_SIZE_TOKENS, AUTO_CHUNK_OVERLAP_TOKENS)


def token_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) character span of every approximate token, in order."""
    return [m.span() for m in _TOKEN.finditer(text)]


def count_tokens(text: str) -> int:
    """The approximate token count described in the module docstring."""
    return sum(1 for _ in _TOKEN.finditer(text))


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bool, which Python treats as int; the spec says integer.
    return isinstance(value, int) and not isinstance(value, bool)


def resolve_strategy(strategy: Mapping[str, Any] | None, param: str = PARAM) -> StaticStrategy:
    """Validate a chunking_strategy request parameter and return the sizes it stands for.

    `None` means auto (the spec: "If not set, will use the `auto` strategy").
    Raises `InvalidChunkingStrategy` (a ValueError) naming the offending parameter.
    """
    if strategy is None:
        return AUTO
    if not isinstance(strategy, Mapping):
        raise InvalidChunkingStrategy(f"'{param}' must be an object.", param)
    kind = strategy.get("type")
    if kind == "auto":
        extra = sorted(set(strategy) - {"type"})
        if extra:
            raise InvalidChunkingStrategy(f"Unknown parameter '{param}.{extra[0]}'.", f"{param}.{extra[0]}")
        return AUTO
    if kind != "static":
        raise InvalidChunkingStrategy(
            f"Invalid value for '{param}.type': expected 'auto' or 'static', got {kind!r}.", f"{param}.type"
        )
    extra = sorted(set(strategy) - {"type", "static"})
    if extra:
        raise InvalidChunkingStrategy(f"Unknown parameter '{param}.{extra[0]}'.", f"{param}.{extra[0]}")
    static = strategy.get("static")
    if not isinstance(static, Mapping):
        raise InvalidChunkingStrategy(f"Missing required parameter '{param}.static'.", f"{param}.static")
    extra = sorted(set(static) - {"max_chunk_size_tokens", "chunk_overlap_tokens"})
    if extra:
        raise InvalidChunkingStrategy(
            f"Unknown parameter '{param}.static.{extra[0]}'.", f"{param}.static.{extra[0]}"
        )
    size_param = f"{param}.static.max_chunk_size_tokens"
    overlap_param = f"{param}.static.chunk_overlap_tokens"
    size = static.get("max_chunk_size_tokens")
    overlap = static.get("chunk_overlap_tokens")
    if size is None:
        raise InvalidChunkingStrategy(f"Missing required parameter '{size_param}'.", size_param)
    if overlap is None:
        raise InvalidChunkingStrategy(f"Missing required parameter '{overlap_param}'.", overlap_param)
    if not _is_int(size) or not MIN_CHUNK_SIZE_TOKENS <= size <= MAX_CHUNK_SIZE_TOKENS:
        raise InvalidChunkingStrategy(
            f"Invalid '{size_param}': expected an integer between {MIN_CHUNK_SIZE_TOKENS} and "
            f"{MAX_CHUNK_SIZE_TOKENS}, got {size!r}.",
            size_param,
        )
    if not _is_int(overlap) or overlap < 0:
        raise InvalidChunkingStrategy(
            f"Invalid '{overlap_param}': expected a non-negative integer, got {overlap!r}.", overlap_param
        )
    if overlap * 2 > size:
        raise InvalidChunkingStrategy(
            f"Invalid '{overlap_param}': the overlap ({overlap}) must not exceed half of "
            f"max_chunk_size_tokens ({size}).",
            overlap_param,
        )
    return StaticStrategy(size, overlap)


def chunk_text(text: str, strategy: Mapping[str, Any] | StaticStrategy | None = None) -> list[Chunk]:
    """Split `text` into overlapping token windows (see the module docstring).

    Text without any token (empty, whitespace only) gives no chunks.
    """
    sizes = strategy if isinstance(strategy, StaticStrategy) else resolve_strategy(strategy)
    spans = token_spans(text)
    size, step = sizes.max_chunk_size_tokens, sizes.max_chunk_size_tokens - sizes.chunk_overlap_tokens
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last = min(first + size, len(spans)) - 1
        start, end = spans[first][0], spans[last][1]
        chunks.append(Chunk(len(chunks), text[start:end], start, end, last - first + 1))
        if last == len(spans) - 1:
            break
        first += step
    return chunks
