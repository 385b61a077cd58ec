-- 0004_offers.sql: offers on their way out (docs/offers.md).
--
-- Every channel of every offer a rule makes is recorded in `offers`, sent
-- or suppressed with the reason, for `loyaltyctl history`. A sent one is
-- also a row of the outbox, which carries the channel and the customer's
-- count of withdrawals of that channel's consent when it was made: the
-- relay publishes it only if the customer still consents and has not
-- withdrawn since, and otherwise records it as suppressed
-- (consent_withdrawn). The offer caps' counts live in rule_limits under
-- the names `offers.email` and `offers.sms`, which no rule id can take.

ALTER TABLE customers
    ADD COLUMN withdrawals_email bigint NOT NULL DEFAULT 0,
    ADD COLUMN withdrawals_sms   bigint NOT NULL DEFAULT 0;

CREATE TABLE offers (
    customer_id     text        NOT NULL,
    offer_id        text        NOT NULL,  -- the published event's id
    event_source    text        NOT NULL,  -- the event whose rule made it
    event_id        text        NOT NULL,
    event_time      timestamptz NOT NULL,
    rule_id         text        NOT NULL,
    template        text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms')),
    status          text        NOT NULL CHECK (status IN ('sent', 'suppressed')),
    reason          text        CHECK ((status = 'sent') = (reason IS NULL)),
    send_after      timestamptz,
    program_version text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, offer_id)
);

ALTER TABLE outbox
    ADD COLUMN channel     text CHECK (channel IN ('email', 'sms')),
    ADD COLUMN withdrawals bigint;

-- Pruning finds the rows published long enough ago.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
