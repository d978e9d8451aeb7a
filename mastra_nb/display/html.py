"""Small HTML building blocks for the static displays: cards, tables, status badges, JSON blocks.

Everything is inline-styled and self-contained (no `<style>` sheet, no script, no external file), so a display
reads the same in JupyterLab, on GitHub, on nbviewer and in nbconvert's HTML. Colours are chosen to stay legible on
light and dark themes: text inherits the theme's colour, and only badges and graph nodes carry their own.
Imports nothing from IPython: the core's `_repr_html_` methods may call these.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["STATUS_COLORS", "badge", "card", "code", "details", "esc", "json_block", "short", "table"]

# status -> (stroke/text colour, fill colour)
STATUS_COLORS: dict[str, tuple[str, str]] = {
    "success": ("#2e7d32", "#e8f5e9"),
    "failed": ("#c62828", "#ffebee"),
    "suspended": ("#e65100", "#fff3e0"),
    "running": ("#1565c0", "#e3f2fd"),
    "waiting": ("#6a1b9a", "#f3e5f5"),
    "canceled": ("#616161", "#eeeeee"),
    "pending": ("#757575", "#fafafa"),
    "bailed": ("#6d4c41", "#efebe9"),  # a successful run a step ended early with `ctx.bail(...)`
}

_FONT = "font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px; line-height: 1.45;"
_MONO = "font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace); font-size: 12px;"
_BORDER = "1px solid rgba(127, 127, 127, 0.35)"


def esc(value: Any) -> str:
    """HTML-escaped text of `value`."""
    return html.escape(str(value), quote=True)


def short(value: Any, limit: int = 120) -> str:
    """A one-line text of `value` (JSON where it can be), cut to `limit` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: Any) -> str:
    """Inline code."""
    style = f"{_MONO} padding: 0 3px; border-radius: 3px; background: rgba(127,127,127,0.15);"
    return f'<code style="{style}">{esc(text)}</code>'


def badge(status: str, label: str | None = None) -> str:
    """A coloured pill for a run or step status."""
    color, fill = STATUS_COLORS.get(status, STATUS_COLORS["pending"])
    return (
        f'<span data-status="{esc(status)}" style="display: inline-block; padding: 0 7px; border-radius: 9px; '
        f'font-size: 11px; font-weight: 600; color: {color}; background: {fill}; border: 1px solid {color};">'
        f"{esc(label or status)}</span>"
    )


def json_block(value: Any, limit: int = 4000) -> str:
    """A `<pre>` block of `value` as indented JSON (cut at `limit` characters)."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "\n…"
    return (
        f'<pre style="{_MONO} margin: 4px 0; padding: 6px 8px; border-radius: 4px; '
        f'background: rgba(127,127,127,0.10); white-space: pre-wrap; overflow-x: auto;">{esc(text)}</pre>'
    )


def details(summary: str, body: str, open: bool = False) -> str:
    """A collapsible section; `summary` and `body` are HTML."""
    attr = " open" if open else ""
    return (
        f'<details{attr} style="margin-top: 6px;"><summary style="cursor: pointer;">{summary}</summary>{body}</details>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, kind: str = "") -> str:
    """A table; `headers` are text, each cell of `rows` is HTML. Each row is marked `data-row` for readers and
    tests, and the table `data-table=kind`."""
    head = "".join(
        f'<th style="text-align: left; padding: 3px 10px 3px 4px; border-bottom: {_BORDER};">{esc(h)}</th>'
        for h in headers
    )
    body = "".join(
        "<tr data-row>"
        + "".join(
            f'<td style="text-align: left; padding: 3px 10px 3px 4px; vertical-align: top;">{cell}</td>' for cell in row
        )
        + "</tr>"
        for row in rows
    )
    if not body:
        span = max(1, len(headers))
        body = f'<tr><td colspan="{span}" style="padding: 3px 0; opacity: 0.7;"><em>none</em></td></tr>'
    marker = f' data-table="{esc(kind)}"' if kind else ""
    return (
        f'<table{marker} style="border-collapse: collapse; margin: 4px 0;">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def card(kind: str, title: str, *sections: str, subtitle: str = "", note: str = "") -> str:
    """A bordered card: a kind label (`Tool`, `Agent`, ...), a title, an optional subtitle, and HTML sections."""
    parts = [
        f'<div style="{_FONT} border: {_BORDER}; border-radius: 6px; padding: 8px 12px; margin: 2px 0; '
        'max-width: 960px;">',
        f'<div><span style="opacity: 0.65; font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em;">'
        f'{esc(kind)}</span> <strong style="font-size: 14px;">{esc(title)}</strong> {subtitle}</div>',
    ]
    if note:
        parts.append(f'<div style="opacity: 0.75; font-style: italic; margin-top: 2px;">{note}</div>')
    parts.extend(f'<div style="margin-top: 6px;">{section}</div>' for section in sections if section)
    parts.append("</div>")
    return "".join(parts)
