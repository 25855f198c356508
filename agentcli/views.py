"""Sessions as people and scripts see them: tables, conversations and Markdown.

Shared by ``agentcli sessions`` and the REPL. Drawing goes through ``render.Env``;
this module decides what is shown, never how a terminal draws it.
"""

from __future__ import annotations

import json
from typing import Any

from .core.records import Message, SearchHit, Session, Usage
from .core.text import plural
from .render import Env, Marked, identifier
from .services.serialize import snippet_pieces

# Longest tool call or tool result shown in a conversation (characters).
TOOL_PREVIEW_CHARS = 100
ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green", "tool": "dim"}
STATUS_STYLE = "bold red"


def short_time(iso: str | None) -> str:
    """``2026-11-21T20:42:00.123Z`` -> ``2026-11-21 20:42Z``."""
    if not iso:
        return ""
    return iso[:10] + " " + iso[11:16] + "Z"


def runs_count(n: int) -> str:
    return plural(n, "run")


def usage_line(usage: Usage) -> str:
    """A run's token counts as ``--usage`` prints them after a reply (CLI and REPL)."""
    estimated = " (estimated: the server sent no counts)" if usage.estimated else ""
    return f"tokens: {usage.input_tokens} in, {usage.output_tokens} out{estimated}"


def one_line(text: str | None, limit: int | None = None) -> str:
    flat = " ".join((text or "").split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1].rstrip() + "…"
    return flat


# -- sessions ------------------------------------------------------------------
def sessions_table(
    env: Env, sessions: list[Session], *, all_users: bool = False, current: str | None = None
) -> None:
    headers = ["SESSION", "NAME", "RUNS", "LAST USED"]
    if all_users:
        headers.insert(0, "USER")
    rows: list[list[str | Marked]] = []
    for s in sessions:
        mark = "* " if current is not None and s.session_id == current else ""
        row: list[str | Marked] = [
            mark + identifier(s.session_id),
            one_line(s.name),
            str(s.runs),
            short_time(s.updated_at),
        ]
        if all_users:
            row.insert(0, identifier(s.user_id))
        rows.append(row)
    env.table(headers, rows)


# -- one conversation ------------------------------------------------------------
def _calls(message: Message) -> list[str]:
    return [
        f"{c.get('function', {}).get('name', '?')}({c.get('function', {}).get('arguments', '')})"
        for c in message.tool_calls or []
    ]


def attachments_line(message: Message) -> str | None:
    """``attached: notes.txt (1,234 bytes), photo.png (image, 5,120 bytes)``, or ``None``."""
    if not message.attachments:
        return None
    shown = []
    for a in message.attachments:
        kind = "image, " if a.get("kind") == "image" else ""
        shown.append(f"{one_line(str(a.get('name')))} ({kind}{int(a.get('size') or 0):,} bytes)")
    return "attached: " + ", ".join(shown)


def run_note(settings: dict[str, Any] | None, previous: dict[str, Any] | None) -> str:
    """What a run was sent that is worth a note: its role and options, and
    instructions that changed since the run before."""
    if not settings:
        return ""
    notes = []
    if settings.get("role"):
        notes.append(f"role {settings['role']}")
    options = {k: v for k, v in (settings.get("options") or {}).items() if k != "max_tokens"}
    if options:
        notes.append(", ".join(f"{k}={json.dumps(v)}" for k, v in options.items()))
    if previous is not None and previous.get("instructions") != settings.get("instructions"):
        notes.append("instructions changed")
    return " · ".join(notes)


def _run_notes(
    messages: list[Message], run_settings: dict[str, dict[str, Any]] | None
) -> dict[str, str]:
    notes: dict[str, str] = {}
    previous: dict[str, Any] | None = None
    for run_id, settings in (run_settings or {}).items():
        notes[run_id] = run_note(settings, previous)
        previous = settings
    return notes


def conversation(
    env: Env,
    messages: list[Message],
    *,
    summary: str | None = None,
    run_settings: dict[str, dict[str, Any]] | None = None,
) -> None:
    """The thread as a conversation: a header line per message, then its text."""
    notes = _run_notes(messages, run_settings)
    if summary:
        env.line("summary of the earlier conversation", "bold magenta")
        env.block(summary)
        env.line()
    seen_runs: set[str] = set()
    for m in messages:
        head = f"{m.role} · {short_time(m.created_at)}"
        style = ROLE_STYLES.get(m.role)
        if m.status != "completed" and m.run_id not in seen_runs:
            head += f" · {m.status}"
            style = STATUS_STYLE
        seen_runs.add(m.run_id)
        if m.role == "assistant" and m.model:
            head += f" · {m.model}"
        if m.role == "user" and notes.get(m.run_id):
            head += f" · {notes[m.run_id]}"
        if m.role == "tool":
            env.line(f"← {one_line(m.content, TOOL_PREVIEW_CHARS)}", "dim")
            env.line()
            continue
        env.line(head, style)
        attached = attachments_line(m) if m.role == "user" else None
        if attached:
            env.line(attached, "dim")
        for call in _calls(m):
            env.line(f"→ {one_line(call, TOOL_PREVIEW_CHARS)}", "dim")
        if m.content and m.role == "assistant":
            env.block(m.content)
        elif m.content:
            env.line(m.content)  # what a person typed: line breaks kept, not Markdown
        env.line()


def show_session(
    env: Env,
    session: Session,
    messages: list[Message],
    *,
    run_settings: dict[str, dict[str, Any]] | None = None,
) -> None:
    title = f"{session.session_id} · {one_line(session.name) or '(unnamed)'}"
    env.line(title, "bold")
    role = f" · role {session.role}" if session.role else ""
    env.line(f"user {session.user_id} · {runs_count(session.runs)}{role}", "dim")
    if session.instructions:
        env.line(f"instructions: {one_line(session.instructions, 300)}", "dim")
    env.line()
    conversation(env, messages, summary=session.summary, run_settings=run_settings)


def markdown_export(
    session: Session,
    messages: list[Message],
    *,
    run_settings: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The session as a Markdown document."""
    role = f"- role: {session.role}\n" if session.role else ""
    parts = [
        f"# {one_line(session.name) or session.session_id}\n",
        f"- user: {session.user_id}\n- session: {session.session_id}\n"
        f"- created: {session.created_at}\n- updated: {session.updated_at}\n{role}",
    ]
    if session.instructions:
        parts.append(f"## Instructions\n\n{session.instructions.strip()}\n")
    notes = _run_notes(messages, run_settings)
    if session.summary:
        parts.append(f"## Summary of the earlier conversation\n\n{session.summary.strip()}\n")
    for m in messages:
        head = f"## {m.role} · {m.created_at}"
        if m.role == "assistant" and m.model:
            head += f" · {m.model}"
        if m.status != "completed":
            head += f" · {m.status}"
        if m.role == "user" and notes.get(m.run_id):
            head += f" · {notes[m.run_id]}"
        body = [head, ""]
        attached = attachments_line(m) if m.role == "user" else None
        if attached:
            body += [attached[0].upper() + attached[1:], ""]
        for c in m.tool_calls or []:
            fn = c.get("function", {})
            body.append(f"Tool call `{fn.get('name', '?')}`: `{fn.get('arguments', '')}`")
            body.append("")
        if m.content:
            body.append(m.content.strip("\n"))
            body.append("")
        parts.append("\n".join(body))
    return "\n".join(parts)


# -- search ------------------------------------------------------------------------
def marked_snippet(snippet: str) -> Marked:
    """A search snippet with its match marks turned into highlighted pieces."""
    return Marked(tuple(snippet_pieces(snippet)))


def search_table(env: Env, hits: list[SearchHit], *, all_users: bool = False) -> None:
    headers = ["SESSION", "ROLE", "WHEN", "MATCH"]
    if all_users:
        headers.insert(0, "USER")
    rows: list[list[str | Marked]] = []
    for hit in hits:
        row: list[str | Marked] = [
            identifier(hit.session_id),
            hit.role,
            short_time(hit.created_at),
            marked_snippet(hit.snippet),
        ]
        if all_users:
            row.insert(0, identifier(hit.user_id))
        rows.append(row)
    env.table(headers, rows)
