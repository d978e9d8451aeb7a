"""`Document` and its chunking strategies: recursive, markdown, sentence and token.

Sizes count characters, except for the `token` strategy, which counts the word pieces of the local embedder's
tokenizer (the unit that decides what an embedding model sees). Every chunk is a slice of the document's text,
and carries the document's metadata plus its number (and, for markdown, the headings above it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..errors import ErrorKind, MastraError

__all__ = ["STRATEGIES", "Chunk", "Document", "Strategy"]

Strategy = Literal["recursive", "markdown", "sentence", "token"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
_SEPARATORS = ("\n\n", "\n", ". ", " ")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its text and metadata."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """A text to chunk, embed and index. Build one with `Document.from_text` or `Document.from_markdown`."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    format: Literal["text", "markdown"] = "text"

    @classmethod
    def from_text(cls, text: str, metadata: Mapping[str, Any] | None = None) -> Document:
        return cls(_text(text), dict(metadata or {}), "text")

    @classmethod
    def from_markdown(cls, text: str, metadata: Mapping[str, Any] | None = None) -> Document:
        return cls(_text(text), dict(metadata or {}), "markdown")

    def chunk(self, strategy: Strategy | None = None, size: int = 512, overlap: int = 50) -> list[Chunk]:
        """Split the text into chunks of at most `size` (characters, or word pieces for `token`).

        Args:
            strategy: "recursive" (paragraphs, then lines, sentences, words), "markdown" (sections under their
                headings, then recursive), "sentence" (whole sentences packed together) or "token"; by default
                "markdown" for markdown documents and "recursive" otherwise.
            size: the largest chunk.
            overlap: how much of the end of one chunk the next one repeats (same unit as `size`).
        """
        strategy = strategy or ("markdown" if self.format == "markdown" else "recursive")
        if strategy not in STRATEGIES:
            raise _invalid("strategy", f"`strategy` must be one of {', '.join(STRATEGIES)}; got {strategy!r}.")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise _invalid("size", f"`size` must be a positive int, got {size!r}.")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
            raise _invalid("overlap", f"`overlap` must be an int from 0 to size - 1 ({size - 1}), got {overlap!r}.")
        pieces: list[tuple[str, dict[str, Any]]]
        if strategy == "markdown":
            pieces = [
                (text, {"headings": " > ".join(path)} if path else {})
                for path, section in _sections(self.text)
                for text in _recursive(section, size, overlap)
            ]
        elif strategy == "sentence":
            pieces = [(text, {}) for text in _pack(_sentences(self.text), size, overlap, " ")]
        elif strategy == "token":
            pieces = [(text, {}) for text in _by_tokens(self.text, size, overlap)]
        else:
            pieces = [(text, {}) for text in _recursive(self.text, size, overlap)]
        return [Chunk(text, {**self.metadata, **extra, "chunk": i}) for i, (text, extra) in enumerate(pieces)]


def _text(text: Any) -> str:
    if not isinstance(text, str):
        raise _invalid("text", f"A document's text must be a str, got {type(text).__name__}.")
    return text


def _invalid(field_name: str, message: str) -> MastraError:
    return MastraError(
        ErrorKind.VALIDATION,
        "DOCUMENT_CHUNK_INVALID",
        message,
        details={"errors": [{"field": field_name, "expected": message}]},
    )


def _recursive(text: str, size: int, overlap: int, separators: tuple[str, ...] = _SEPARATORS) -> list[str]:
    """Split on the coarsest separator that makes pieces fit, then pack neighbours back up to `size`."""
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    for i, sep in enumerate(separators):
        if sep in text:
            parts: list[str] = []
            for part in text.split(sep):
                parts.extend([part] if len(part) <= size else _recursive(part, size, overlap, separators[i + 1 :]))
            return _pack([p.strip() for p in parts if p.strip()], size, overlap, sep if sep != ". " else ". ")
    step = size - overlap  # no separator left: cut the run of characters
    return [text[start : start + size] for start in range(0, max(len(text) - overlap, 1), step)]


def _pack(parts: list[str], size: int, overlap: int, joiner: str) -> list[str]:
    """Join consecutive parts into chunks of at most `size`; each chunk starts with the last parts of the one
    before that fit in `overlap`."""
    chunks: list[str] = []
    current: list[str] = []
    for part in parts:
        if current and len(joiner.join([*current, part])) > size:
            chunks.append(joiner.join(current))
            kept: list[str] = []
            for previous in reversed(current):
                if len(joiner.join([previous, *kept, part])) > min(overlap + len(part) + len(joiner), size):
                    break
                kept.insert(0, previous)
            current = kept
        current.append(part)
    if current:
        chunks.append(joiner.join(current))
    return chunks


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def _sections(text: str) -> list[tuple[list[str], str]]:
    """The markdown's sections, each with the headings above it (outermost first) and its text (heading included)."""
    out: list[tuple[list[str], str]] = []
    path: list[tuple[int, str]] = []
    matches = list(_HEADING.finditer(text))
    if not matches or matches[0].start() > 0:
        out.append(([], text[: matches[0].start()] if matches else text))
    for i, match in enumerate(matches):
        level = len(match.group(1))
        path = [(lv, title) for lv, title in path if lv < level] + [(level, match.group(2))]
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append(([title for _, title in path], text[match.start() : end]))
    return [(p, s) for p, s in out if s.strip()]


def _by_tokens(text: str, size: int, overlap: int) -> list[str]:
    """Windows of at most `size` word pieces that start and end on word boundaries (a slice that cut a word
    would tokenize into other pieces)."""
    from .embedders import word_pieces

    spans = word_pieces(text)
    n = len(spans)
    starts = [i for i in range(n) if i == 0 or spans[i][0] != spans[i - 1][1]] + [n]
    chunks: list[str] = []
    i = 0
    while i < n:
        end = min(i + size, n)
        if end < n:
            end = max((s for s in starts if i < s <= end), default=end)  # a word longer than `size` is cut
        chunks.append(text[spans[i][0] : spans[end - 1][1]].strip())
        if end >= n:
            break
        i = min((s for s in starts if s >= end - overlap and s > i), default=end)
    return [c for c in chunks if c]
