-- 0001_init.sql: the state of the walking skeleton.
--
-- Every table that holds per-customer data has customer_id first in its
-- primary key, so the schema distributes by customer (Citus) unchanged.
-- Runs with search_path set to the configured schema.

-- The ledger is the truth: one line per change of a customer's points,
-- never updated or deleted.
CREATE TABLE ledger (
    customer_id      text        NOT NULL,
    entry_id         bigint      GENERATED ALWAYS AS IDENTITY,
    event_source     text        NOT NULL,
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    event_time       timestamptz NOT NULL,
    rule_id          text,
    program_version  text        NOT NULL,
    delta_available  bigint      NOT NULL,
    delta_pending    bigint      NOT NULL,
    available_at     timestamptz,          -- release date of a pending credit
    reason           text        NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, entry_id)
);

CREATE FUNCTION ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% refused)', TG_OP;
END
$$;

CREATE TRIGGER ledger_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Balances, kept in the same transaction as the ledger lines.
CREATE TABLE balances (
    customer_id  text        PRIMARY KEY,
    available    bigint      NOT NULL DEFAULT 0,
    pending      bigint      NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Each credit is a lot with its own release and expiry date.
CREATE TABLE lots (
    customer_id   text        NOT NULL,
    lot_id        bigint      GENERATED ALWAYS AS IDENTITY,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    rule_id       text,
    points        bigint      NOT NULL CHECK (points > 0),
    remaining     bigint      NOT NULL,
    available_at  timestamptz NOT NULL,
    expires_at    timestamptz,
    released      boolean     NOT NULL,
    PRIMARY KEY (customer_id, lot_id)
);

CREATE INDEX lots_to_release ON lots (available_at) WHERE NOT released;

-- Every input event applied, by its idempotency key (source, id).
CREATE TABLE processed_events (
    customer_id   text        NOT NULL,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, event_source, event_id)
);

-- The next offset to read per consumer group, topic and partition; written
-- in the same transaction as the batch it follows (compare-and-set).
CREATE TABLE consumer_offsets (
    group_id     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Messages to publish, written with the state they describe. customer_id is
-- '' for dead letters whose key is no customer id.
CREATE TABLE outbox (
    customer_id   text        NOT NULL,
    outbox_id     bigint      GENERATED ALWAYS AS IDENTITY,
    topic         text        NOT NULL,
    message_key   bytea,
    message_id    text,                 -- CloudEvents id; NULL for dead letters
    payload       bytea,
    headers       bytea,                -- see lib/outbox: encoded header list
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (customer_id, outbox_id)
);

CREATE INDEX outbox_unpublished ON outbox (outbox_id) WHERE published_at IS NULL;
