"""Conversation memory: threads and messages in storage, semantic recall over a vector store, working memory."""

from .memory import Memory
from .messages import MemoryMessage, RecalledMessage, Thread
from .options import DEFAULT_TEMPLATE, MemoryOptions, MessageRange, SemanticRecall, WorkingMemory
from .processors import MemoryProcessor, TokenLimiter, ToolCallFilter

__all__ = [
    "DEFAULT_TEMPLATE",
    "Memory",
    "MemoryMessage",
    "MemoryOptions",
    "MemoryProcessor",
    "MessageRange",
    "RecalledMessage",
    "SemanticRecall",
    "Thread",
    "TokenLimiter",
    "ToolCallFilter",
    "WorkingMemory",
]
