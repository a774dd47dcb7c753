"""The PostgreSQL schema of a memory, created and migrated by the library (versioned).

``migrate(conn, schema, dim)`` brings a schema to :data:`VERSION`, one numbered step at
a time, each in the caller's transaction under an advisory lock, so several processes
opening the same database at once migrate it exactly once. ``meta.schema_version``
records where a schema stands; a schema newer than this library refuses to open.

Tables (all under the memory's own schema):

- ``items``: the memories (the same fields as :class:`~agentmem.MemoryItem`; times as
  ``timestamptz``, metadata as ``jsonb``), the indexed lexical text ``body`` with its
  ``tsvector`` and token count, the embedding (pgvector, HNSW, cosine) and the hash of
  the text it was computed from (the embedding cache: identical indexed texts are
  embedded once).
- ``terms``: the inverted index for BM25, one row per (user, lexeme, memory) with the
  term frequency, written from the ``tsvector`` in the item's transaction.
- ``context_terms``: the same for conversation turns' in-context text (``context_body``;
  the in-context embedding is ``context_embedding``, with an HNSW index of its own).
- ``events`` and ``event_items``: the audit log, written in the item's transaction.
- ``facts``: structured facts (``subject.attribute = value`` with validity intervals, as
  :class:`~agentmem.stores.FactTable` keeps them), written in the transaction of the fact
  memory that states them.
- ``meta``: key-value settings (embedder, dimension, indexing context, schema version).

Row-level security: every table with user data has a policy that shows a row only when
its ``user_id`` equals the transaction's ``agentmem.user_id`` setting (or the setting is
``*``, what the library uses for operations over all users). :func:`set_row_security`
turns it on (``FORCE``: the table's owner is subject to it too; superusers never are).
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentmem._errors import StoreError

__all__ = ["USER_TABLES", "VERSION", "migrate", "set_row_security"]

USER_TABLES = ("items", "terms", "context_terms", "events", "event_items", "facts")

_POLICY = (
    "user_id = current_setting('agentmem.user_id', true) "
    "OR current_setting('agentmem.user_id', true) = '*'"
)

# Each step is SQL run once, in order; {dim} is the embedding dimension.
_STEPS: list[str] = [
    # 1: items, audit log, row-level security policies
    """
    CREATE FUNCTION token_count(tsvector) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS 'SELECT coalesce(sum(array_length(positions, 1)), 0)::integer FROM unnest($1)';
    CREATE TABLE items (
        vid bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        user_id text NOT NULL,
        agent_id text,
        session_id text,
        kind text NOT NULL,
        text text NOT NULL,
        created_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz,
        importance double precision NOT NULL,
        strength double precision NOT NULL,
        access_count integer NOT NULL,
        last_accessed_at timestamptz,
        source_ids jsonb NOT NULL,
        metadata jsonb NOT NULL,
        body text NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
        tokens integer GENERATED ALWAYS AS (token_count(to_tsvector('english', body))) STORED,
        embedding vector({dim}) NOT NULL,
        embedding_hash text NOT NULL
    );
    CREATE INDEX items_scope ON items (user_id, agent_id, session_id);
    CREATE INDEX items_created ON items (user_id, created_at, vid);
    CREATE INDEX items_order ON items (created_at, vid);
    CREATE INDEX items_open ON items (user_id) WHERE valid_to IS NULL;
    CREATE INDEX items_hash ON items (embedding_hash);
    CREATE TABLE terms (
        user_id text NOT NULL,
        lexeme text NOT NULL,
        vid bigint NOT NULL REFERENCES items (vid) ON DELETE CASCADE,
        tf integer NOT NULL,
        tokens integer NOT NULL,
        PRIMARY KEY (user_id, lexeme, vid) INCLUDE (tf, tokens)
    );
    CREATE INDEX terms_vid ON terms (vid);
    CREATE INDEX items_embedding ON items
        USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
    CREATE TABLE events (
        id bigserial PRIMARY KEY,
        op text NOT NULL,
        user_id text NOT NULL,
        at timestamptz NOT NULL,
        reason text NOT NULL,
        policy text,
        item_ids jsonb NOT NULL,
        before jsonb,
        after jsonb
    );
    CREATE INDEX events_user ON events (user_id, at);
    CREATE TABLE event_items (
        item_id text NOT NULL,
        event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        user_id text NOT NULL
    );
    CREATE INDEX event_items_item ON event_items (item_id, event_id);
    CREATE INDEX event_items_event ON event_items (event_id);
    CREATE POLICY tenant ON items USING ({policy}) WITH CHECK ({policy});
    CREATE POLICY tenant ON events USING ({policy}) WITH CHECK ({policy});
    CREATE POLICY tenant ON event_items USING ({policy}) WITH CHECK ({policy});
    CREATE POLICY tenant ON terms USING ({policy}) WITH CHECK ({policy});
    """,
    # 2: a memory's length for BM25 counts every word, stop words included (as SQLite
    # FTS5 does), not only the lexemes the English configuration keeps
    """
    CREATE FUNCTION word_count(text) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$SELECT count(*)::integer FROM regexp_matches($1, '\\w+', 'g')$$;
    ALTER TABLE items DROP COLUMN tokens;
    ALTER TABLE items ADD COLUMN tokens integer GENERATED ALWAYS AS (word_count(body)) STORED;
    UPDATE terms SET tokens = items.tokens FROM items WHERE terms.vid = items.vid;
    DROP FUNCTION token_count(tsvector);
    """,
    # 3: structured facts, one timeline per (user, subject, attribute), written in the
    # transaction of the memory they come from (item_id) or set directly (NULL)
    """
    CREATE TABLE facts (
        id bigserial PRIMARY KEY,
        user_id text NOT NULL,
        subject text NOT NULL,
        attribute text NOT NULL,
        value text NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz,
        recorded_at timestamptz NOT NULL,
        item_id text
    );
    CREATE INDEX facts_key ON facts (user_id, subject, attribute, valid_from);
    CREATE INDEX facts_item ON facts (item_id) WHERE item_id IS NOT NULL;
    CREATE POLICY tenant ON facts USING ({policy}) WITH CHECK ({policy});
    """,
    # 4: the collection statistics of lexical search (a user's count and mean length)
    # read from an index alone, not from the wide items rows
    """
    CREATE INDEX items_tokens ON items (user_id) INCLUDE (tokens);
    """,
    # 5: conversation turns indexed a second time, in their context (ContextOptions
    # turn_context): the in-context BM25 text with its own inverted index and statistics,
    # and the in-context embedding with its own HNSW index; NULL for other memories
    """
    ALTER TABLE items ADD COLUMN context_body text;
    ALTER TABLE items ADD COLUMN context_tsv tsvector
        GENERATED ALWAYS AS (to_tsvector('english', coalesce(context_body, ''))) STORED;
    ALTER TABLE items ADD COLUMN context_tokens integer
        GENERATED ALWAYS AS (word_count(context_body)) STORED;
    ALTER TABLE items ADD COLUMN context_embedding vector({dim});
    ALTER TABLE items ADD COLUMN context_hash text;
    CREATE INDEX items_context_hash ON items (context_hash) WHERE context_hash IS NOT NULL;
    CREATE INDEX items_context_tokens ON items (user_id) INCLUDE (context_tokens)
        WHERE context_body IS NOT NULL;
    CREATE INDEX items_context_embedding ON items
        USING hnsw (context_embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
    CREATE TABLE context_terms (
        user_id text NOT NULL,
        lexeme text NOT NULL,
        vid bigint NOT NULL REFERENCES items (vid) ON DELETE CASCADE,
        tf integer NOT NULL,
        tokens integer NOT NULL,
        PRIMARY KEY (user_id, lexeme, vid) INCLUDE (tf, tokens)
    );
    CREATE INDEX context_terms_vid ON context_terms (vid);
    CREATE POLICY tenant ON context_terms USING ({policy}) WITH CHECK ({policy});
    """,
]

VERSION = len(_STEPS)


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"agentmem:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migrate(conn: Any, schema: str, dim: int, *, target: int = VERSION) -> int:
    """Create or upgrade ``schema`` to version ``target`` in the caller's transaction.

    Returns the version found before migrating (0 for a new schema).
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {schema}.meta (key text PRIMARY KEY, value text NOT NULL)"
    )
    row = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'").fetchone()
    found = 0 if row is None else int(row[0])
    if found > VERSION:
        msg = (
            f"the PostgreSQL schema {schema!r} is at version {found}, newer than this agentmem "
            f"(version {VERSION}); upgrade agentmem"
        )
        raise StoreError(msg)
    for number in range(found + 1, min(target, VERSION) + 1):
        step = _STEPS[number - 1].format(dim=int(dim), policy=_POLICY)
        conn.execute(f"SET LOCAL search_path TO {schema}, public")
        conn.execute(step)
        conn.execute(
            f"INSERT INTO {schema}.meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(number),),
        )
    return found


def set_row_security(conn: Any, schema: str) -> None:
    """Enforce the tenant policies on every user table (idempotent; needs ownership)."""
    for table in USER_TABLES:
        conn.execute(f"ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY")
        conn.execute(f"ALTER TABLE {schema}.{table} FORCE ROW LEVEL SECURITY")
