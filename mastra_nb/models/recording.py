"""Record/replay of model calls, so a notebook re-runs offline and gives the same answers.

A call is keyed by a SHA-256 of its normalized request: the primary model's name and options, the messages,
tools, tool choice and response format, in canonical JSON. Where the call is sent (`api_base`), with which key,
its timeout, and whether it streams are left out: none of them changes what the model is asked. Responses,
streamed ones with their text deltas, live in the hub's storage, in the `model_calls` table.

Modes: `off` (call the model), `record` (call it and store the response, replacing an older one), `replay` (only
recordings; a missing one is an error), `auto` (replay when a recording exists, else call and record).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, get_args

from .. import records
from ..errors import ErrorKind, MastraError
from ..redaction import hide_known
from .types import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from ..storage.base import Storage

__all__ = ["RECORD_MODES", "Recorder", "RecordMode", "Recording", "request_key"]

RecordMode = Literal["off", "record", "replay", "auto"]
RECORD_MODES: tuple[str, ...] = get_args(RecordMode)
_TABLE = "model_calls"


def check_mode(mode: Any, where: str) -> RecordMode:
    """`mode` if it is a record mode; a validation error naming `where` it came from otherwise."""
    if mode not in RECORD_MODES:
        raise MastraError(
            ErrorKind.VALIDATION,
            "RECORD_MODE_INVALID",
            f"{where} must be one of {', '.join(map(repr, RECORD_MODES))}, got {mode!r}.",
        )
    result: RecordMode = mode
    return result


def normalized(model: str, options: dict[str, Any], request: ModelRequest) -> dict[str, Any]:
    """The JSON-able form of a request that its key is computed from, and that is stored beside the response."""
    data = request.to_dict()
    merged = {**options, **data.pop("options", {})}
    return {"model": model, **data, **({"options": merged} if merged else {})}


def request_key(request_json: dict[str, Any]) -> str:
    """A stable hex digest of a normalized request (key order and spacing do not matter)."""
    text = json.dumps(request_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Recording:
    """A stored response and, for a streamed call, the text deltas it arrived in."""

    response: ModelResponse
    deltas: tuple[str, ...] | None


class Recorder:
    """Looks up and stores the model calls of one agent (or one caller) in a hub's storage.

    Args:
        storage: where the recordings live (`hub.storage`).
        mode: off, record, replay or auto.
        owner: who is calling, as error messages should name it (``"agent `support`"``).
    """

    def __init__(self, storage: Storage, mode: RecordMode, owner: str) -> None:
        self.storage = storage
        self.mode: RecordMode = check_mode(mode, "`record`")
        self.owner = owner

    @property
    def replays(self) -> bool:
        return self.mode in ("replay", "auto")

    @property
    def records(self) -> bool:
        return self.mode in ("record", "auto")

    async def lookup(self, key: str) -> Recording | None:
        rows = await self.storage.select(_TABLE, where={"key": key}, limit=1)
        if not rows:
            return None
        stored = rows[0]["response"] or {}
        deltas = stored.get("deltas")
        response = records.load(ModelResponse, stored.get("response"))
        return Recording(replace(response, replayed=True), tuple(deltas) if deltas is not None else None)

    async def save(
        self, key: str, request_json: dict[str, Any], response: ModelResponse, deltas: list[str] | None
    ) -> None:
        row = {
            "key": key,
            "model": request_json["model"],
            # known secrets masked: the key above was computed from the request as sent, so replay still matches
            "request": hide_known(request_json),
            "response": hide_known({"response": records.dump(response), "deltas": deltas}),
            "created_at": datetime.now(timezone.utc),
        }
        await self.storage.upsert(_TABLE, [row])

    def missing(self, key: str, request_json: dict[str, Any]) -> MastraError:
        """The error for a call that replay mode has no recording of."""
        text = json.dumps(request_json, ensure_ascii=False, default=repr)
        start = text if len(text) <= 240 else text[:237] + "..."
        last = _last_user_text(request_json.get("messages") or [])
        return MastraError(
            ErrorKind.DOMAIN,
            "MODEL_RECORDING_MISSING",
            f"No recorded response for {self.owner} in `replay` mode (model `{request_json['model']}`, last user "
            f"message {last!r}). The request starts: {start} Run it once with `record='auto'` (or 'record') while "
            "the model is reachable, or use `record='auto'` to call the model when no recording exists.",
            details={"key": key, "model": request_json["model"], "request_start": start},
        )


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content, default=repr)
            return text if len(text) <= 80 else text[:77] + "..."
    return ""
