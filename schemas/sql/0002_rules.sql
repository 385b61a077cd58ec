-- 0002_rules.sql: what rules with a `limit`, a `budget` or an `issue` keep.
--
-- Written in the same batch transaction as the ledger lines of the events
-- that caused them, so they move exactly once with the offsets. Rules are
-- named by their id: a rule keeps its counts, its budget and its codes
-- across program versions as long as its id stays the same.

-- How often a rule with a `limit` fired for a customer in one calendar
-- period of the program's timezone. period is the period's key
-- (ly_period_key: '2026-11-24', '2026-W48', '2026-11', '2026', 'ever'), so
-- a new period starts from no row at all; rows of past periods are never
-- read again and may be pruned.
CREATE TABLE rule_limits (
    customer_id  text   NOT NULL,
    rule_id      text   NOT NULL,
    period       text   NOT NULL,
    count        bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (customer_id, rule_id, period)
);

-- The points each rule with a `budget` has credited so far. Not per
-- customer: a budget is shared by all customers, so this is the one table
-- without customer_id in its key (on Citus it would be a reference table).
-- It is read without a lock at the start of a batch and written at the
-- end with `spent = spent + delta WHERE spent + delta <= cap`, so the cap
-- holds across replicas while the row is locked only for the commit; see
-- docs/design.md, "Limits, budgets and codes". The cap is the program's.
CREATE TABLE rule_budgets (
    rule_id     text        PRIMARY KEY,
    spent       bigint      NOT NULL CHECK (spent >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Discount codes and gift cards rules issued, one row per code, with the
-- event, rule and program version that issued it. status is 'issued' until
-- a paid order's coupon_codes mark it 'used' or a refund of the order that
-- earned it voids it (neither is done by this version yet).
CREATE TABLE codes (
    customer_id      text        NOT NULL,
    code             text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('discount', 'gift_card')),
    amount           bigint      NOT NULL CHECK (amount >= 0),   -- minor units
    percent          integer     NOT NULL CHECK (percent BETWEEN 0 AND 100),
    min_order        bigint      NOT NULL CHECK (min_order >= 0), -- minor units
    valid_until      timestamptz NOT NULL,
    event_source     text        NOT NULL,
    event_id         text        NOT NULL,
    rule_id          text        NOT NULL,
    program_version  text        NOT NULL,
    status           text        NOT NULL DEFAULT 'issued'
                                 CHECK (status IN ('issued', 'used', 'voided')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, code)
);

-- A code is typed at checkout without the customer, so it must be unique on
-- its own: the worker inserts with ON CONFLICT (code) DO NOTHING and draws
-- the next code of the firing when one is taken. (On Citus a unique index
-- without the distribution column is refused: this would become a small
-- table of codes distributed by code.)
CREATE UNIQUE INDEX codes_code ON codes (code);
