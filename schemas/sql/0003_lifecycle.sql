-- 0003_lifecycle.sql: customer profiles, orders and their refunds,
-- consumed lots, redemptions and adjustments, code uses, and the
-- triggers one customer's event causes for another (a referral).
--
-- Everything here is written in the transaction of the batch (or the
-- scheduler's pass) whose events caused it, with the customer's row in
-- `customers` locked: that row is the one lock per customer that every
-- writer takes (FOR UPDATE by the worker, FOR UPDATE SKIP LOCKED by the
-- scheduler). See docs/lifecycle.md.

-- The profile. Contact details (e-mail, phone) are never stored: offers
-- name a channel and the mailer holds the address. birth_date, first_name
-- are personal data that `loyaltyctl erase` removes.
CREATE TABLE customers (
    customer_id      text        PRIMARY KEY,
    first_name       text,
    locale           text,
    birth_date       date,
    consent_email    boolean     NOT NULL DEFAULT false,
    consent_sms      boolean     NOT NULL DEFAULT false,
    referred_by      text,                 -- a customer id, set once
    referred_at      timestamptz,          -- the event time it was set
    referral_done    boolean     NOT NULL DEFAULT false,
    order_count      bigint      NOT NULL DEFAULT 0,
    lifetime_spend   bigint      NOT NULL DEFAULT 0, -- net, minor units
    first_order_at   timestamptz,
    last_order_at    timestamptz,
    clv              bigint      NOT NULL DEFAULT 0,
    categories       text[]      NOT NULL DEFAULT '{}', -- net spend per
    category_spend   bigint[]    NOT NULL DEFAULT '{}', -- category, paired
    tier             text        NOT NULL DEFAULT '',
    segment          text        NOT NULL DEFAULT 'new'
                                 CHECK (segment IN ('new', 'active', 'at_risk', 'lost')),
    birthday_year    integer     NOT NULL DEFAULT 0, -- the last year a birthday fired
    tier_due_at      timestamptz,          -- when the tier is evaluated again
    next_due_at      timestamptz,          -- when the scheduler next has work
    erased_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX customers_due ON customers (next_due_at) WHERE next_due_at IS NOT NULL;

INSERT INTO customers (customer_id) SELECT customer_id FROM balances;

-- One row per paid order: what it paid, what has been refunded, and what
-- each rule earned on it, so a refund reverses the points actually earned
-- (rule_ids/rule_earned/rule_reversed are paired arrays), and the
-- categories' spend (paired arrays) for top_category.
CREATE TABLE orders (
    customer_id     text        NOT NULL,
    order_id        text        NOT NULL,
    event_source    text        NOT NULL,
    event_id        text        NOT NULL,
    paid_at         timestamptz NOT NULL,
    total           bigint      NOT NULL CHECK (total >= 0),
    refunded        bigint      NOT NULL DEFAULT 0 CHECK (refunded BETWEEN 0 AND total),
    rule_ids        text[]      NOT NULL DEFAULT '{}',
    rule_earned     bigint[]    NOT NULL DEFAULT '{}',
    rule_reversed   bigint[]    NOT NULL DEFAULT '{}',
    categories      text[]      NOT NULL DEFAULT '{}',
    category_spend  bigint[]    NOT NULL DEFAULT '{}',
    PRIMARY KEY (customer_id, order_id)
);

CREATE INDEX orders_paid_at ON orders (customer_id, paid_at);

-- Refunds and cancellations that came before their order: applied when
-- the order comes, or dead-lettered by the scheduler once older than
-- refunds.hold_days. The original message is kept for the dead letter.
CREATE TABLE held_refunds (
    customer_id     text        NOT NULL,
    event_source    text        NOT NULL,
    event_id        text        NOT NULL,
    order_id        text        NOT NULL,
    cancel          boolean     NOT NULL,
    amount          bigint,               -- NULL: the whole remaining total
    event_time      timestamptz NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    message_key     bytea,
    payload         bytea,
    headers         bytea,
    held_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, event_source, event_id)
);

-- Lots: consumption is kept per lot, and a reminder is sent once.
ALTER TABLE lots ADD COLUMN reminded boolean NOT NULL DEFAULT false;
CREATE INDEX lots_open ON lots (customer_id, available_at) WHERE remaining > 0;

-- points.redeem and points.adjust by request_id: a request is applied once.
CREATE TABLE requests (
    customer_id   text        NOT NULL,
    request_id    text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('redeem', 'adjust')),
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    outcome       text        NOT NULL, -- completed | rejected: reason | applied
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, request_id)
);

-- What became of every code an order carried in coupon_codes, and of the
-- gift cards a refund voided: used, already_used, expired, voided,
-- unknown (not ours, or never issued), voided_by_refund.
CREATE TABLE code_uses (
    customer_id   text        NOT NULL,
    use_id        bigint      GENERATED ALWAYS AS IDENTITY,
    code          text        NOT NULL,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    event_time    timestamptz NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN
                  ('used', 'already_used', 'expired', 'voided', 'unknown', 'voided_by_refund')),
    PRIMARY KEY (customer_id, use_id)
);

ALTER TABLE codes ADD COLUMN used_at timestamptz;
ALTER TABLE codes ADD COLUMN used_by text;
ALTER TABLE codes ADD COLUMN used_event_id text;
CREATE INDEX codes_event ON codes (customer_id, event_id);

-- Triggers for a customer caused by another customer's event (the
-- referrer's referral.qualified): queued here in the causing batch and run
-- by the scheduler with the target customer locked. The id is
-- deterministic, so a trigger is queued and run once.
CREATE TABLE queued_triggers (
    customer_id   text        NOT NULL,
    trigger_id    text        NOT NULL,
    trigger_type  text        NOT NULL,
    event_time    timestamptz NOT NULL,
    data          text        NOT NULL, -- the trigger's data as JSON
    done          boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, trigger_id)
);

CREATE INDEX queued_triggers_todo ON queued_triggers (customer_id) WHERE NOT done;

-- The codes an order carried and the gift cards a refund voids, in the
-- order of the batch's events (ly_store_code_ops): kind 'use' marks a code
-- used or records why not; 'void' voids the unused gift cards issued by
-- the event order_events[i]. One round trip per batch.
CREATE FUNCTION apply_code_ops(kinds text[], customers text[], codes_in text[],
                               sources text[], events text[], times timestamptz[],
                               order_events text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    st text;
    vu timestamptz;
    outcome text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
        IF kinds[i] = 'use' THEN
            SELECT c.status, c.valid_until INTO st, vu FROM codes c
             WHERE c.code = codes_in[i] FOR UPDATE;
            IF NOT FOUND THEN
                outcome := 'unknown';
            ELSIF st = 'used' THEN
                outcome := 'already_used';
            ELSIF st = 'voided' THEN
                outcome := 'voided';
            ELSIF vu < times[i] THEN
                outcome := 'expired';
            ELSE
                UPDATE codes SET status = 'used', used_at = times[i],
                       used_by = customers[i], used_event_id = events[i]
                 WHERE code = codes_in[i];
                outcome := 'used';
            END IF;
            INSERT INTO code_uses (customer_id, code, event_source, event_id, event_time, outcome)
            VALUES (customers[i], codes_in[i], sources[i], events[i], times[i], outcome);
        ELSE
            WITH v AS (
                UPDATE codes SET status = 'voided'
                 WHERE customer_id = customers[i] AND event_id = order_events[i]
                   AND kind = 'gift_card' AND status = 'issued'
                RETURNING code)
            INSERT INTO code_uses (customer_id, code, event_source, event_id, event_time, outcome)
            SELECT customers[i], v.code, sources[i], events[i], times[i], 'voided_by_refund'
              FROM v ORDER BY v.code;
        END IF;
    END LOOP;
END
$$;
