"""What `%%ask` shows while the agent works: tool calls as they happen, the answer as it is written.

In a kernel the progress is one display that is updated in place (at most ten times a second) and emptied when
the answer is complete, because the answer itself is then the cell's result, shown as a card. In a terminal
IPython the same events are printed as they come.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..display.html import badge, code, esc, short

__all__ = ["LiveAnswer"]

_INTERVAL = 0.1  # seconds between two updates of the display while text streams in


class LiveAnswer:
    """Shows the events of one agent stream.

    Args:
        shell: the IPython shell; a kernel's shell gets an updating display, others get printed lines.
        agent: the agent's name, for the header.
    """

    def __init__(self, shell: Any, agent: str) -> None:
        self.agent = agent
        self.kernel = getattr(shell, "kernel", None) is not None
        self.text: list[str] = []
        self.calls: list[list[str]] = []  # [tool, arguments, outcome html]
        self._handle: Any = None
        self._shown = 0.0
        self._line_open = False

    def show(self, event: Any) -> None:
        """Take one `AgentEvent`."""
        kind = event.kind
        if kind == "text-delta":
            self.text.append(event.text)
            if not self.kernel:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                self._line_open = True
        elif kind == "tool-call":
            call = event.call
            self.calls.append([call.name, short(call.arguments, 100), badge("running", "running")])
            self._print(f"→ {call.name}({short(call.arguments, 100)})")
        elif kind == "tool-result":
            result = event.result
            outcome = (
                f"{badge('failed', result.error.get('code', 'error'))} {esc(short(result.error.get('message'), 120))}"
                if result.error is not None
                else esc(short(result.result, 120))
            )
            for row in reversed(self.calls):
                if row[0] == result.tool and "running" in row[2]:
                    row[2] = outcome
                    break
            shown = f"error {result.error.get('code')}" if result.error is not None else short(result.result, 100)
            self._print(f"← {result.tool}: {shown}")
        elif kind == "approval-required":
            self._print(f"⏸ {event.approval.tool} waits for approval (call {event.approval.call_id})")
        self._refresh(force=kind != "text-delta")

    def close(self) -> None:
        """The answer is complete (or the run failed): remove the progress display."""
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        elif self._line_open:
            print()

    def _print(self, line: str) -> None:
        if self.kernel:
            return
        if self._line_open:
            print()
            self._line_open = False
        print(line)

    def _refresh(self, force: bool) -> None:
        if not self.kernel:
            return
        now = time.monotonic()
        if not force and now - self._shown < _INTERVAL:
            return
        self._shown = now
        bundle = {"text/html": self._html(), "text/plain": "".join(self.text)}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _html(self) -> str:
        calls = "".join(
            f'<div style="opacity: 0.85;">→ {code(tool)} <span style="opacity: 0.7;">{esc(args)}</span> {outcome}</div>'
            for tool, args, outcome in self.calls
        )
        text = esc("".join(self.text))
        return (
            f'<div style="font-size: 13px;"><div style="opacity: 0.6;">{esc(self.agent)} is answering…</div>{calls}'
            f'<div style="white-space: pre-wrap;">{text}<span style="opacity: 0.5;">▍</span></div></div>'
        )
