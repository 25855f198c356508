"""Numbered schema migrations, applied in order and recorded in the database.

Append only: never edit a migration that has shipped; add a new one. Each
entry is ``(name, sql)`` and runs in one transaction with its record.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        # The first schema: sessions, their runs and messages (with full-text
        # search), auxiliary model calls, user memories and their event log.
        "initial",
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            name TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            summary TEXT,
            summary_through INTEGER,
            summary_updated_at TEXT,
            UNIQUE (user_id, session_id)
        );
        CREATE INDEX sessions_by_user_updated ON sessions (user_id, updated_at);
        CREATE INDEX sessions_by_updated ON sessions (updated_at);

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            session_pk INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN
                ('running', 'completed', 'error', 'cancelled', 'interrupted')),
            model TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            owner TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_ms INTEGER
        );
        CREATE INDEX runs_by_session_status ON runs (session_pk, status, id);
        CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            run_pk INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
            content TEXT,
            tool_calls TEXT,
            tool_call_id TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (run_pk, seq)
        );
        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            content, content = 'messages', content_rowid = 'id'
        );
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;

        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            session_pk INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
            run_pk INTEGER REFERENCES runs (id) ON DELETE SET NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('summary', 'memory')),
            status TEXT NOT NULL CHECK (status IN ('completed', 'error')),
            model TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at TEXT NOT NULL,
            duration_ms INTEGER
        );
        CREATE INDEX model_calls_by_session ON model_calls (session_pk);
        CREATE INDEX model_calls_by_run ON model_calls (run_pk);

        -- AUTOINCREMENT: a memory id is never reused, so an id the model or
        -- the user still holds cannot silently name a newer memory, and
        -- memory_events of a deleted memory never mix with another's.
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            memory TEXT NOT NULL,
            normalized TEXT NOT NULL,
            topics TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            created_session_id TEXT,
            created_run_id TEXT,
            updated_session_id TEXT,
            updated_run_id TEXT,
            UNIQUE (user_id, normalized)
        );
        CREATE INDEX memories_by_user_updated ON memories (user_id, updated_at);
        CREATE VIRTUAL TABLE memories_fts USING fts5 (
            memory, topics, content = 'memories', content_rowid = 'id',
            tokenize = 'porter unicode61'
        );
        CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, memory, topics)
                VALUES (new.id, new.memory, new.topics);
        END;
        CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, memory, topics)
                VALUES ('delete', old.id, old.memory, old.topics);
        END;
        CREATE TRIGGER memories_fts_update AFTER UPDATE OF memory, topics ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, memory, topics)
                VALUES ('delete', old.id, old.memory, old.topics);
            INSERT INTO memories_fts (rowid, memory, topics)
                VALUES (new.id, new.memory, new.topics);
        END;

        CREATE TABLE memory_events (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'update', 'delete')),
            before TEXT,
            after TEXT,
            actor TEXT NOT NULL CHECK (actor IN ('agent', 'manager', 'user')),
            run_id TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX memory_events_by_memory ON memory_events (memory_id, id);
        CREATE INDEX memory_events_by_user ON memory_events (user_id, id);
        """,
    ),
    (
        # Changes made through the MCP server (`agentcli mcp`) are recorded
        # with the actor 'mcp'. SQLite cannot alter a CHECK constraint, so
        # the event log is copied into a table that allows it.
        "mcp_actor",
        """
        CREATE TABLE memory_events_new (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'update', 'delete')),
            before TEXT,
            after TEXT,
            actor TEXT NOT NULL CHECK (actor IN ('agent', 'manager', 'user', 'mcp')),
            run_id TEXT,
            created_at TEXT NOT NULL
        );
        INSERT INTO memory_events_new (id, memory_id, user_id, action, before, after, actor,
            run_id, created_at)
            SELECT id, memory_id, user_id, action, before, after, actor, run_id, created_at
            FROM memory_events;
        DROP TABLE memory_events;
        ALTER TABLE memory_events_new RENAME TO memory_events;
        CREATE INDEX memory_events_by_memory ON memory_events (memory_id, id);
        CREATE INDEX memory_events_by_user ON memory_events (user_id, id);
        """,
    ),
    (
        # How many memories each user has, kept by triggers: ranking memories
        # by relevance weighs words against this number, and reading it must
        # not cost more for a user with more memories (a count walks them all).
        "memory_counts",
        """
        CREATE TABLE memory_counts (
            user_id TEXT PRIMARY KEY,
            memories INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO memory_counts (user_id, memories)
            SELECT user_id, count(*) FROM memories GROUP BY user_id;
        CREATE TRIGGER memory_counts_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memory_counts (user_id, memories) VALUES (new.user_id, 1)
                ON CONFLICT (user_id) DO UPDATE SET memories = memories + 1;
        END;
        CREATE TRIGGER memory_counts_delete AFTER DELETE ON memories BEGIN
            UPDATE memory_counts SET memories = memories - 1 WHERE user_id = old.user_id;
        END;
        CREATE TRIGGER memory_counts_update AFTER UPDATE OF user_id ON memories BEGIN
            UPDATE memory_counts SET memories = memories - 1 WHERE user_id = old.user_id;
            INSERT INTO memory_counts (user_id, memories) VALUES (new.user_id, 1)
                ON CONFLICT (user_id) DO UPDATE SET memories = memories + 1;
        END;
        """,
    ),
    (
        # Files attached to a run's message (`chat -f`, `/file`): a JSON list of
        # {name, size, kind[, mime]}; NULL when none. Their text is in the message.
        "run_attachments",
        """
        ALTER TABLE runs ADD COLUMN attachments TEXT;
        """,
    ),
    (
        # What a session was told and what each run was sent: the session's
        # instructions (from --system, kept for its later runs) and role, and a
        # run's settings (instructions used, role, generation options) as JSON.
        "session_settings",
        """
        ALTER TABLE sessions ADD COLUMN instructions TEXT;
        ALTER TABLE sessions ADD COLUMN role TEXT;
        ALTER TABLE runs ADD COLUMN settings TEXT;
        """,
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)
