"""Vector stores, embedders and RAG helpers. Nothing heavy loads until first use (chromadb, onnxruntime)."""

from .base import METRICS, IndexInfo, Metric, VectorMatch, VectorStore
from .chroma import ChromaVectorStore
from .documents import Chunk, Document
from .embedders import Embedder, LiteLLMEmbedder, LocalEmbedder, default_embedder
from .rag import IngestResult, ingest, vector_query_tool

__all__ = [
    "METRICS",
    "ChromaVectorStore",
    "Chunk",
    "Document",
    "Embedder",
    "IndexInfo",
    "IngestResult",
    "LiteLLMEmbedder",
    "LocalEmbedder",
    "Metric",
    "VectorMatch",
    "VectorStore",
    "default_embedder",
    "ingest",
    "vector_query_tool",
]
