"""Recall's matches in context: each matched message with its neighbours in its own thread.

A database store answers this in one query (the `ReadsMessagesAround` capability); any other store is read
through its primitives here: the matches, then their threads whole, with the neighbours picked in Python, which
suits an in-process store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..storage.base import Storage
from ..storage.capabilities import ReadsMessagesAround
from ..storage.compare import is_in

__all__ = ["messages_around", "read_around"]

_NEVER = datetime.min.replace(tzinfo=timezone.utc)


async def messages_around(storage: Storage, ids: Sequence[str], before: int, after: int) -> list[dict[str, Any]]:
    """The stored messages `ids`, each with up to `before` and `after` messages on either side in its own thread
    (by `created_at`, then `id`), every message once, by thread and then in conversation order. Ids not stored are
    skipped."""
    if isinstance(storage, ReadsMessagesAround):
        rows = await storage.messages_around(ids, before, after)
    else:
        rows = await read_around(storage, ids, before, after)
    rows.sort(key=_conversation_order)
    return rows


async def read_around(storage: Storage, ids: Sequence[str], before: int, after: int) -> list[dict[str, Any]]:
    """`messages_around` through `select` alone, in any order: what a store without the capability answers."""
    wanted = list(dict.fromkeys(ids))
    anchors = await storage.select("messages", where={"id": is_in(wanted)}) if wanted else []
    threads = sorted({row["thread_id"] for row in anchors})
    if not threads:
        return []
    rows = await storage.select(
        "messages", where={"thread_id": is_in(threads)}, order_by=["thread_id", "created_at", "id"]
    )
    picked: dict[str, dict[str, Any]] = {}
    anchored = set(wanted)
    for i, row in enumerate(rows):
        if row["id"] in anchored:
            for near in rows[max(0, i - before) : i + after + 1]:
                if near["thread_id"] == row["thread_id"]:
                    picked[near["id"]] = near
    return list(picked.values())


def _conversation_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    # By thread, then time, then id; empty cells last, as in every store's ORDER BY (None does not compare).
    thread, at = row["thread_id"], row["created_at"]
    return (thread is None, thread or "", at is None, at or _NEVER, row["id"])
