"""A whole database read and written by ids, for ``agentcli db copy`` and ``db info``.

Writes are idempotent: a run id already stored, or a memory history whose first
event is already stored, is skipped. Each session (and each user's memories)
is written in one transaction, so a copy cut off half-way leaves no partial
session behind.
"""

from __future__ import annotations

import json
from typing import Any

from ...core.records import (
    Memory,
    MemoryEvent,
    MemoryHistory,
    Message,
    ModelCall,
    RunArchive,
    Session,
    SessionArchive,
    SessionCopied,
    StoreInfo,
)
from ...core.text import normalize_memory
from .db import Database
from .sessions import _RUN_COLS, run_record

TABLES = ("sessions", "runs", "messages", "model_calls", "memories", "memory_events")
_MEMORY_COLS = (
    "id, user_id, memory, topics, created_at, updated_at, created_session_id, "
    "created_run_id, updated_session_id, updated_run_id"
)
_EVENT_COLS = "id, memory_id, user_id, action, before, after, actor, run_id, created_at"


def _event_key(event: MemoryEvent) -> tuple[Any, ...]:
    return (event.action, event.before, event.after, event.actor, event.created_at)


class ArchiveQueries(Database):
    def info(self) -> StoreInfo:
        counts = {t: self.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        return StoreInfo("sqlite", self.path, self.schema_version(), counts)

    def user_ids(self) -> list[str]:
        rows = self.execute(
            "SELECT user_id FROM sessions UNION SELECT user_id FROM memories "
            "UNION SELECT user_id FROM memory_events ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def session_pks(self) -> list[int]:
        return [r[0] for r in self.execute("SELECT id FROM sessions ORDER BY id").fetchall()]

    # -- sessions ---------------------------------------------------------------
    def read_session(self, session_pk: int) -> SessionArchive:
        with self.reading() as conn:
            row = conn.execute(
                "SELECT s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, 0, "
                "s.summary, s.summary_through, s.summary_updated_at, r.run_id, "
                "s.instructions, s.role "
                "FROM sessions s LEFT JOIN runs r ON r.id = s.summary_through WHERE s.id = ?",
                (session_pk,),
            ).fetchone()
            runs = [
                (run_record(r[:-1]), json.loads(r[-1]) if r[-1] else None)
                for r in conn.execute(
                    f"SELECT {_RUN_COLS}, settings FROM runs WHERE session_pk = ? ORDER BY id",
                    (session_pk,),
                )
            ]
            messages: dict[int, list[Message]] = {}
            for m in conn.execute(
                "SELECT m.run_pk, r.run_id, m.seq, m.role, m.content, m.created_at, r.status, "
                "m.tool_calls, m.tool_call_id FROM messages m JOIN runs r ON r.id = m.run_pk "
                "WHERE r.session_pk = ? ORDER BY m.run_pk, m.seq",
                (session_pk,),
            ):
                calls = json.loads(m[7]) if m[7] else None
                messages.setdefault(m[0], []).append(
                    Message(m[0], m[1], m[2], m[3], m[4], m[5], m[6], calls, m[8])
                )
            model_calls = [
                ModelCall(*c)
                for c in conn.execute(
                    "SELECT c.user_id, r.run_id, c.purpose, c.status, c.model, c.input_tokens, "
                    "c.output_tokens, c.error, c.created_at, c.duration_ms FROM model_calls c "
                    "LEFT JOIN runs r ON r.id = c.run_pk WHERE c.session_pk = ? ORDER BY c.id",
                    (session_pk,),
                )
            ]
        session = Session(*row[:10])._replace(instructions=row[11], role=row[12])
        archived = [RunArchive(run, messages.get(run.pk, []), settings) for run, settings in runs]
        return SessionArchive(session, row[10], archived, model_calls)

    def write_session(self, archive: SessionArchive) -> SessionCopied:
        s = archive.session
        with self.transaction() as conn:
            found = conn.execute(
                "SELECT id, summary_through, updated_at FROM sessions "
                "WHERE user_id = ? AND session_id = ?",
                (s.user_id, s.session_id),
            ).fetchone()
            created = found is None
            if found is None:
                pk = conn.execute(
                    "INSERT INTO sessions (user_id, session_id, name, created_at, updated_at, "
                    "instructions, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        s.user_id,
                        s.session_id,
                        s.name,
                        s.created_at,
                        s.updated_at,
                        s.instructions,
                        s.role,
                    ),
                ).lastrowid
                has_summary = False
            else:
                pk, has_summary = found[0], found[1] is not None
                if s.updated_at > found[2]:
                    conn.execute(
                        "UPDATE sessions SET updated_at = ? WHERE id = ?", (s.updated_at, pk)
                    )
            ids = [r.run.run_id for r in archive.runs]
            known: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT run_id FROM runs WHERE run_id IN ({marks})", chunk
                    )
                )
            new_pks: dict[str, int] = {}
            messages = 0
            for item in archive.runs:
                run = item.run
                if run.run_id in known:
                    continue
                status = "interrupted" if run.status == "running" else run.status
                run_pk = conn.execute(
                    "INSERT INTO runs (run_id, session_pk, status, model, input_tokens, "
                    "output_tokens, error, owner, started_at, finished_at, duration_ms, "
                    "attachments, settings) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                    (
                        run.run_id,
                        pk,
                        status,
                        run.model,
                        run.input_tokens,
                        run.output_tokens,
                        run.error,
                        run.started_at,
                        run.finished_at,
                        run.duration_ms,
                        json.dumps(run.attachments) if run.attachments else None,
                        json.dumps(item.settings) if item.settings is not None else None,
                    ),
                ).lastrowid
                assert run_pk is not None
                new_pks[run.run_id] = run_pk
                conn.executemany(
                    "INSERT INTO messages (run_pk, seq, role, content, tool_calls, tool_call_id, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_pk,
                            m.seq,
                            m.role,
                            m.content,
                            json.dumps(m.tool_calls) if m.tool_calls else None,
                            m.tool_call_id,
                            m.created_at,
                        )
                        for m in item.messages
                    ],
                )
                messages += len(item.messages)
            calls = [
                c
                for c in archive.model_calls
                if (c.run_id in new_pks) or (c.run_id is None and created)
            ]
            conn.executemany(
                "INSERT INTO model_calls (user_id, session_pk, run_pk, purpose, status, model, "
                "input_tokens, output_tokens, error, created_at, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.user_id,
                        pk,
                        new_pks.get(c.run_id) if c.run_id else None,
                        c.purpose,
                        c.status,
                        c.model,
                        c.input_tokens,
                        c.output_tokens,
                        c.error,
                        c.created_at,
                        c.duration_ms,
                    )
                    for c in calls
                ],
            )
            if s.summary is not None and not has_summary:
                through = None
                if archive.summary_through_run_id is not None:
                    row = conn.execute(
                        "SELECT id FROM runs WHERE run_id = ?", (archive.summary_through_run_id,)
                    ).fetchone()
                    through = row[0] if row else None
                if through is not None or archive.summary_through_run_id is None:
                    conn.execute(
                        "UPDATE sessions SET summary = ?, summary_through = ?, "
                        "summary_updated_at = ? WHERE id = ?",
                        (s.summary, through, s.summary_updated_at, pk),
                    )
        return SessionCopied(int(created), len(new_pks), messages, len(calls))

    # -- memories ---------------------------------------------------------------
    def read_memories(self, user_id: str) -> list[MemoryHistory]:
        with self.reading() as conn:
            live = {
                r[0]: Memory(
                    r[0],
                    r[1],
                    r[2],
                    json.loads(r[3]) if r[3] else [],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                )
                for r in conn.execute(
                    f"SELECT {_MEMORY_COLS} FROM memories WHERE user_id = ?", (user_id,)
                )
            }
            events: dict[int, list[MemoryEvent]] = {}
            for r in conn.execute(
                f"SELECT {_EVENT_COLS} FROM memory_events WHERE user_id = ? ORDER BY id",
                (user_id,),
            ):
                events.setdefault(r[1], []).append(MemoryEvent(*r))
        ids = sorted(set(live) | set(events))
        return [MemoryHistory(live.get(i), events.get(i, [])) for i in ids]

    def write_memories(self, user_id: str, histories: list[MemoryHistory]) -> tuple[int, int]:
        added_memories = added_events = 0
        with self.transaction() as conn:
            known_events = {
                tuple(r)
                for r in conn.execute(
                    "SELECT action, before, after, actor, created_at FROM memory_events "
                    "WHERE user_id = ?",
                    (user_id,),
                )
            }
            known_texts = {
                r[0]
                for r in conn.execute(
                    "SELECT normalized FROM memories WHERE user_id = ?", (user_id,)
                )
            }
            for history in histories:
                if history.events and _event_key(history.events[0]) in known_events:
                    continue
                memory = history.memory
                if memory is not None:
                    normalized = normalize_memory(memory.memory)
                    if normalized in known_texts:
                        continue
                    known_texts.add(normalized)
                    new_id = conn.execute(
                        "INSERT INTO memories (user_id, memory, normalized, topics, created_at, "
                        "updated_at, created_session_id, created_run_id, updated_session_id, "
                        "updated_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            user_id,
                            memory.memory,
                            normalized,
                            json.dumps(memory.topics, ensure_ascii=False),
                            memory.created_at,
                            memory.updated_at,
                            memory.created_session_id,
                            memory.created_run_id,
                            memory.updated_session_id,
                            memory.updated_run_id,
                        ),
                    ).lastrowid
                    added_memories += 1
                elif history.events:
                    # A deleted memory's history keeps an id of its own, never reused.
                    conn.execute(
                        "INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('memories', 0)"
                    )
                    new_id = conn.execute(
                        "UPDATE sqlite_sequence SET seq = max(seq, "
                        "(SELECT coalesce(max(id), 0) FROM memories)) + 1 "
                        "WHERE name = 'memories' RETURNING seq"
                    ).fetchone()[0]
                else:
                    continue
                conn.executemany(
                    "INSERT INTO memory_events (memory_id, user_id, action, before, after, "
                    "actor, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (new_id, user_id, e.action, e.before, e.after, e.actor, e.run_id,
                         e.created_at)
                        for e in history.events
                    ],
                )  # fmt: skip
                added_events += len(history.events)
        return added_memories, added_events
