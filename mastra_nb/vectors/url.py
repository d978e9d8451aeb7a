"""`open_vectors`: a vector store from one string, the setting a person types beside `storage`
(`MASTRA_VECTORS_URL`, `%config MastraMagics.vectors = ...`).

    chroma+shared:///.mastra/chroma   the folder served by one Chroma server that every process naming it shares:
                                      several notebooks, kernels and a server, with one memory. Found running or
                                      started on first use, stopped with its last user (`vectors.chroma_server`).
    .mastra/chroma, chroma:///…       an embedded Chroma in that folder: one process at a time (the default, per
                                      notebook in a kernel)
    http://host:port, https://…       a Chroma server run by someone else (`chroma run --path DIR --port N`)
    memory://                         a temporary folder, removed when the store closes

As in `storage.open_store`, the path after `scheme://` is as written: `chroma+shared:///rel/chroma` is relative to
the working folder, `chroma+shared:////abs/chroma` absolute.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import VECTORS_SCHEMES, VECTORS_URL_FORMS
from ..errors import ErrorKind, MastraError, shown
from .chroma import ChromaVectorStore

__all__ = ["open_vectors", "parse_vectors_url"]

_USERINFO = re.compile(r"(://[^/@:]*:)[^/@]*@")  # a password in a URL, never quoted back


def open_vectors(spec: str, *, setting: str = "vectors") -> ChromaVectorStore:
    """The vector store `spec` names (see the module docstring); nothing is opened or started until its first
    operation.

    Args:
        spec: `chroma+shared:///folder`, a folder or `chroma:///folder`, `http(s)://host:port`, or `memory://`.
        setting: how the person set it, named in an error (`MASTRA_VECTORS_URL`, `MastraMagics.vectors`).

    Raises:
        MastraError: `VECTORS_URL_INVALID`, naming `setting` and what was expected.
    """
    return ChromaVectorStore(**parse_vectors_url(spec, setting=setting))


def parse_vectors_url(spec: str, *, setting: str = "vectors") -> dict[str, Any]:
    """The `ChromaVectorStore` arguments `spec` stands for, or the `VECTORS_URL_INVALID` error `open_vectors` raises
    (nothing is made: a hub checks its setting with this when it is built)."""
    text = spec.strip() if isinstance(spec, str) else ""
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    if not text or (separator and f"{scheme}://" not in VECTORS_SCHEMES):
        raise _invalid(setting, spec, VECTORS_URL_FORMS)
    if scheme == "memory":
        if rest:
            raise _invalid(setting, spec, "`memory://` with nothing after it")
        return {}
    if scheme in ("http", "https"):
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise _invalid(setting, spec, f"`{scheme}://host:port` with a port from 1 to 65535")
        if parts.username or parts.password:
            raise _invalid(setting, spec, "a URL without credentials (pass them as `ChromaVectorStore(headers=...)`)")
        if not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment:
            raise _invalid(setting, spec, f"`{scheme}://host:port`, with nothing after the port")
        https = scheme == "https"
        return {"host": parts.hostname, "port": (443 if https else 8000) if port is None else port, "ssl": https}
    if not rest.strip("/"):
        raise _invalid(setting, spec, f"a folder after `{scheme}:///`")
    try:
        path = Path(rest[1:] if scheme and rest.startswith("/") else rest).expanduser()
    except RuntimeError:  # `~name` of no user here, or no home folder at all
        raise _invalid(setting, spec, "a folder whose `~` names a user with a home folder on this machine") from None
    if path.is_file():
        raise _invalid(setting, spec, "a folder, not an existing file")
    return {"path": path, "shared": scheme == "chroma+shared"}


def _invalid(setting: str, spec: object, expected: str) -> MastraError:
    quoted = _USERINFO.sub(r"\1***@", spec) if isinstance(spec, str) else spec
    return MastraError(
        ErrorKind.VALIDATION,
        "VECTORS_URL_INVALID",
        f"`{setting}` must be {expected}, got {shown(quoted)}.",
        details={"errors": [{"field": setting, "expected": expected}]},
    )
