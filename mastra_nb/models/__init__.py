"""Models: the one wrapper around litellm.

`Model` names a litellm model and says how to reach, retry and replace it; `ScriptedModel` answers from a
script, offline, for demos and tests; `Recorder` records and replays calls through the hub's storage. Nothing
here imports litellm until the first call.
"""

from ._litellm import aclose_clients, count_tokens, embed, load_litellm, warm_litellm
from .model import Model, StructuredOutput
from .recording import RECORD_MODES, Recorder, RecordMode
from .scripted import ScriptedModel, ScriptedReply, ScriptItem
from .types import Message, ModelRequest, ModelResponse, TextDelta, ToolCall, Usage

__all__ = [
    "Model",
    "ScriptedModel",
    "ScriptedReply",
    "ScriptItem",
    "StructuredOutput",
    "Recorder",
    "RecordMode",
    "RECORD_MODES",
    "ModelRequest",
    "ModelResponse",
    "Message",
    "TextDelta",
    "ToolCall",
    "Usage",
    "aclose_clients",
    "count_tokens",
    "embed",
    "load_litellm",
    "warm_litellm",
]
