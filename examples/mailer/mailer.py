#!/usr/bin/python3
"""A sample mailer built on nothing but loyaltyd's loyalty.offer contract
(SPEC section 7, schemas/outbound/loyalty.offer.json).

  mailer.py --brokers HOST:PORT --state SQLITE --contacts JSON --out JSONL
            [--topic loyalty.offers] [--group loyalty-mailer] [--templates DIR]
            [--default-locale tr] [--now RFC3339] [--until-idle MS]
  mailer.py --check-templates [--templates DIR] [--default-locale tr]

It consumes CloudEvents in structured mode and "sends" each offer by
appending one JSON line to --out, which stands in for an e-mail and SMS
gateway. What it relies on, and so what the contract has to give:

- delivery is at least once and offer ids are stable: an offer is recorded
  in SQLite under its offer_id before its Kafka offset is committed, and a
  second copy is dropped by that key, across restarts too;
- send_after (quiet hours) holds an offer in SQLite until then; an offer
  found past expires_at is dropped as expired;
- events carry no contact details: they come from the shop's directory
  (--contacts, a JSON file here) by customer_id, and every log line carries
  ids only, never an address or a message;
- the copy is Jinja2, one file per (locale, template) with the blocks
  `subject` and `email` for e-mail and `sms` for SMS, and money in minor
  units formatted per locale.

Anything that is not a usable loyalty.offer is logged and skipped. An
offer that cannot be rendered or has no contact is logged and kept as
failed; the next start retries it. Runs on Debian 12's Python with
python3-confluent-kafka and python3-jinja2; exits 2 on bad arguments.
"""
import argparse
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jinja2
from confluent_kafka import Consumer, KafkaException, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))

# Limits: messages read per batch, offers delivered per SQLite query, the
# largest message value accepted, how long one poll waits, and how long a
# draining run (--until-idle) waits to join its group before giving up.
BATCH_MESSAGES_MAX = 100
DELIVER_BATCH_MAX = 1000
MESSAGE_BYTES_MAX = 1 << 20
POLL_TIMEOUT_S = 0.5
JOIN_TIMEOUT_S = 60
SMS_CHARS_MAX = 160  # one GSM segment; --check-templates enforces it

CE_CONTENT_TYPE = "application/cloudevents+json"
OFFER_TYPE = "loyalty.offer"
CHANNELS = {"email": "email", "sms": "phone"}  # channel -> directory field
BLOCKS = {"email": ("subject", "email"), "sms": ("sms",)}  # channel -> blocks
# Vars the contract marks optional: None when absent, so a template can
# test them with a plain `if`; any other missing name is an error.
OPTIONAL_VARS = ("first_name", "points_earned", "code_kind", "code_amount", "code_percent",
                 "code_min_order", "code_valid_until")

ID_RE = re.compile(r"[^\x00-\x1f\x7f]{1,128}\Z")
LOCALE_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
# A template name that is also a safe file name; a leading "_" marks the
# shared files of a locale, which no offer can name.
TEMPLATE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")
TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z")
DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def log(level, msg, component="mailer", **fields):
    """One JSON object per line on stderr, in loyaltyd's shape (ts, level,
    component, msg) plus fields. Callers pass ids and reasons only: never
    an e-mail address, a phone number or a rendered message."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {"ts": now, "level": level, "component": component, "msg": msg, **fields}
    print(json.dumps(record, ensure_ascii=False, separators=(",", ":")), file=sys.stderr,
          flush=True)


class KafkaLogHandler(logging.Handler):
    """librdkafka's own log lines, routed into the same JSON lines."""

    def emit(self, record):
        level = "error" if record.levelno >= logging.ERROR else \
            "warn" if record.levelno >= logging.WARNING else "info"
        log(level, record.getMessage(), component="librdkafka")


# ---- time ----

def parse_time(text):
    """An RFC 3339 timestamp as microseconds since the epoch (digits past
    the microsecond are dropped); ValueError for anything else."""
    m = TIME_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f'not an RFC 3339 time: {json.dumps(text, ensure_ascii=False)}')
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    offset = timedelta(0)
    if zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        offset = -offset if zone[0] == "-" else offset
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                      tzinfo=timezone(offset))
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return (moment - EPOCH) // timedelta(microseconds=1) + micros


def format_time(us):
    """Microseconds since the epoch as RFC 3339 UTC, to the second."""
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall_us():
    """The real clock, in microseconds since the epoch."""
    return time.time_ns() // 1000


# ---- the event ----

class BadMessage(Exception):
    """A message that is not a loyalty.offer this mailer can use."""


@dataclass
class Offer:
    data: dict          # the event's data, as received
    send_after_us: int  # 0: no hold
    expires_at_us: int  # 0: no end


def parse_offer(value, content_type):
    """The offer a structured-mode loyalty.offer CloudEvent carries (value:
    the message's bytes; content_type: its header, None if absent).
    Raises BadMessage with the reason for anything else."""
    if content_type is not None and \
            content_type.split(";")[0].strip().lower() != CE_CONTENT_TYPE:
        raise BadMessage(f'content-type "{content_type}" is not {CE_CONTENT_TYPE}')
    if not value:
        raise BadMessage("empty value")
    if len(value) > MESSAGE_BYTES_MAX:
        raise BadMessage(f"value of {len(value)} bytes is over {MESSAGE_BYTES_MAX}")
    try:
        event = json.loads(value)
    except ValueError:  # UnicodeDecodeError is one
        raise BadMessage("value is not JSON") from None
    if not isinstance(event, dict):
        raise BadMessage("value is not a JSON object")
    if event.get("specversion") != "1.0":
        raise BadMessage(f'specversion {json.dumps(event.get("specversion"))} is not "1.0"')
    if event.get("type") != OFFER_TYPE:
        raise BadMessage(f'type {json.dumps(event.get("type"))} is not "{OFFER_TYPE}"')
    if not isinstance(event.get("id"), str) or not ID_RE.match(event["id"]):
        raise BadMessage("no valid id")
    data = event.get("data")
    if not isinstance(data, dict):
        raise BadMessage("data is not an object")
    for field in ("offer_id", "customer_id"):
        if not isinstance(data.get(field), str) or not ID_RE.match(data[field]):
            raise BadMessage(f"data.{field} is not a valid id")
    for field in ("template", "locale"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise BadMessage(f"data.{field} is not a non-empty string")
    if data.get("channel") not in CHANNELS:
        raise BadMessage(f'data.channel {json.dumps(data.get("channel"))} is not email or sms')
    if not isinstance(data.get("vars"), dict):
        raise BadMessage("data.vars is not an object")
    times = {}
    for field in ("send_after", "expires_at"):
        try:
            times[field] = parse_time(data[field]) if field in data else 0
        except ValueError as e:
            raise BadMessage(f"data.{field}: {e}") from None
    return Offer(data, times["send_after"], times["expires_at"])


# ---- state ----

class State:
    """The mailer's SQLite file: every offer it has seen, by offer_id, and
    what became of it: pending (held until send_after_us, or due), sent,
    expired or failed (error says why). The rows are the dedupe: an offer
    id is recorded once and never removed."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")  # durable before the offset commit
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS offers (
                seq INTEGER PRIMARY KEY,
                offer_id TEXT NOT NULL UNIQUE,
                data TEXT NOT NULL,
                send_after_us INTEGER NOT NULL,
                expires_at_us INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'expired', 'failed')),
                error TEXT);
            CREATE INDEX IF NOT EXISTS offers_pending ON offers (send_after_us, seq)
                WHERE status = 'pending';
        """)

    def retry_failed(self):
        """Makes the failed offers pending again (templates or contacts may
        have been fixed since); returns how many."""
        return self.db.execute(
            "UPDATE offers SET status = 'pending', error = NULL WHERE status = 'failed'").rowcount

    def record(self, offers):
        """Records a batch of offers in one transaction, durable on return.
        Returns, for each, whether it was new (False: a duplicate)."""
        new = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for offer in offers:
                cur = self.db.execute(
                    "INSERT INTO offers (offer_id, data, send_after_us, expires_at_us)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (offer_id) DO NOTHING",
                    (offer.data["offer_id"], json.dumps(offer.data, ensure_ascii=False),
                     offer.send_after_us, offer.expires_at_us))
                new.append(cur.rowcount == 1)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return new

    def due(self, now_us):
        """Up to DELIVER_BATCH_MAX pending offers due at now_us, in the order
        they became due: (seq, Offer)."""
        rows = self.db.execute(
            "SELECT seq, data, send_after_us, expires_at_us FROM offers"
            " WHERE status = 'pending' AND send_after_us <= ? ORDER BY send_after_us, seq LIMIT ?",
            (now_us, DELIVER_BATCH_MAX)).fetchall()
        return [(seq, Offer(json.loads(data), after, expires))
                for seq, data, after, expires in rows]

    def finish(self, seq, status, error=None):
        self.db.execute("UPDATE offers SET status = ?, error = ? WHERE seq = ?",
                        (status, error, seq))

    def held(self, now_us):
        """How many offers wait for a send_after after now_us."""
        return self.db.execute(
            "SELECT count(*) FROM offers WHERE status = 'pending' AND send_after_us > ?",
            (now_us,)).fetchone()[0]


# ---- the copy ----

class RenderError(Exception):
    """An offer that cannot be rendered: no template, no block, a bad value."""


@dataclass
class Formats:
    """How a locale writes numbers, money, percentages and dates."""
    group: str        # thousands separator
    decimal: str
    money: str        # with {amount} and {currency}
    currency: dict    # ISO 4217 code -> how the locale writes it; others as they are
    percent: str      # with {n}
    months: tuple


FORMATS = {
    "tr": Formats(".", ",", "{amount} {currency}", {"TRY": "TL"}, "%{n}",
                  ("Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz",
                   "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık")),
    "en": Formats(",", ".", "{currency} {amount}", {}, "{n}%",
                  ("January", "February", "March", "April", "May", "June", "July",
                   "August", "September", "October", "November", "December")),
}


def integer(value, what):
    if not isinstance(value, int) or isinstance(value, bool):
        raise RenderError(f"{what}: {json.dumps(value, ensure_ascii=False)} is not an integer")
    return value


def filters(fmt):
    """The Jinja2 filters of one locale: number (1.750 / 1,750), money from
    minor units in the offer's vars.currency (50,00 TL / TRY 50.00; every
    currency taken to have two decimals, as TRY, EUR and USD do), percent
    (%15 / 15%) and date from YYYY-MM-DD (8 Aralık 2026 / 8 December 2026)."""

    def number(value):
        n = integer(value, "number")
        return ("-" if n < 0 else "") + f"{abs(n):,}".replace(",", fmt.group)

    @jinja2.pass_context
    def money(context, value):
        minor = integer(value, "money")
        code = context.get("currency")
        if not isinstance(code, str) or not code:
            raise RenderError("money: the offer's vars have no currency")
        whole, cents = divmod(abs(minor), 100)
        amount = ("-" if minor < 0 else "") + number(whole) + fmt.decimal + f"{cents:02d}"
        return fmt.money.format(amount=amount, currency=fmt.currency.get(code, code))

    def percent(value):
        return fmt.percent.format(n=number(value))

    def date(value):
        m = DATE_RE.match(value) if isinstance(value, str) else None
        if not m:
            raise RenderError(f"date: {json.dumps(value, ensure_ascii=False)} is not YYYY-MM-DD")
        day = datetime(int(m[1]), int(m[2]), int(m[3]))  # ValueError on 2026-02-30
        return f"{day.day} {fmt.months[day.month - 1]} {day.year}"

    return {"number": number, "money": money, "percent": percent, "date": date}


class Templates:
    """The copy in DIR/<locale>/<template>.j2. Each template has the blocks
    `subject` and `email` (plain text) and `sms`; DIR/<locale>/_common.j2
    holds what a locale's templates share (greeting, signature, the names of
    tiers, perks and categories, the terms of a code), which they reach as
    `common`. A locale needs an entry in FORMATS."""

    def __init__(self, root, default_locale):
        self.root = root
        self.default_locale = default_locale
        self.envs = {}

    def locales(self):
        return sorted(d for d in os.listdir(self.root)
                      if LOCALE_RE.match(d) and os.path.isdir(os.path.join(self.root, d)))

    def names(self, locale):
        """The template names a locale has."""
        return sorted(f[:-3] for f in os.listdir(os.path.join(self.root, locale))
                      if f.endswith(".j2") and TEMPLATE_RE.match(f[:-3]))

    def exists(self, locale, name):
        return LOCALE_RE.match(locale) is not None and TEMPLATE_RE.match(name) is not None \
            and os.path.isfile(os.path.join(self.root, locale, name + ".j2"))

    def env(self, locale):
        if locale not in self.envs:
            if locale not in FORMATS:
                raise RenderError(f'no number and date formats for locale "{locale}"')
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(os.path.join(self.root, locale)),
                undefined=jinja2.StrictUndefined, lstrip_blocks=True,
                autoescape=False)
            env.filters.update(filters(FORMATS[locale]))
            self.envs[locale] = env
        return self.envs[locale]

    def choose(self, name, locale):
        """The locale whose copy of template `name` an offer in `locale` gets:
        its own, else its language's (en for en-GB), else the default."""
        tried = []
        for candidate in (locale, locale.split("-")[0], self.default_locale):
            if candidate in tried:
                continue
            if self.exists(candidate, name):
                return candidate
            tried.append(candidate)
        raise RenderError(f'no template "{name}" in {", ".join(tried)}')

    def render(self, data, locale):
        """The blocks of the offer's channel (BLOCKS), rendered from
        `locale`'s copy of its template with its vars; whitespace is folded
        to single spaces in a subject and an SMS, and to at most one empty
        line between paragraphs of an e-mail. Raises RenderError, or any
        error the template's code raises."""
        env = self.env(locale)
        template = env.get_template(data["template"] + ".j2")
        context = dict.fromkeys(OPTIONAL_VARS)
        context.update(data["vars"])
        context["code"] = data.get("code")  # the offer's own, whatever the vars say
        context["common"] = env.get_template("_common.j2").make_module(context)
        out = {}
        for block in BLOCKS[data["channel"]]:
            if block not in template.blocks:
                raise RenderError(f'{locale}/{data["template"]}.j2 has no block "{block}"')
            try:
                text = "".join(template.blocks[block](template.new_context(context)))
            except Exception:  # re-raised with the template's own file and line
                env.handle_exception()
            if block == "email":
                lines = [line.rstrip() for line in text.strip().split("\n")]
                out[block] = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
            else:
                out[block] = " ".join(text.split())
        return out


def describe(error, root):
    """A render error in one line, led by the template file (relative to
    root) and line it came from when there is one:
    "tr/welcome.j2:12: UndefinedError: 'total' is undefined"."""
    where = ""
    if isinstance(error, jinja2.TemplateSyntaxError) and error.filename:
        where = f"{os.path.relpath(error.filename, root)}:{error.lineno}: "
    else:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename.endswith(".j2")]
        if frames:
            where = f"{os.path.relpath(frames[-1].filename, root)}:{frames[-1].lineno}: "
    text = str(error) if isinstance(error, RenderError) else f"{type(error).__name__}: {error}"
    return where + text


# ---- sending ----

class Gateway:
    """Stands in for an e-mail and SMS gateway: one JSON line per message,
    flushed to disk before the offer is marked sent. A crash in between
    sends the message again on restart, so a real gateway should take
    offer_id as its idempotency key."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def send(self, message):
        self.file.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


class Mailer:
    """Records offers and delivers the due ones; counts what it did."""

    def __init__(self, state, templates, contacts, gateway):
        self.state = state
        self.templates = templates
        self.contacts = contacts
        self.gateway = gateway
        self.counts = dict.fromkeys(
            ("recorded", "duplicates", "skipped", "sent", "expired", "failed"), 0)

    def record(self, messages, now_us):
        """Records every offer of a batch in SQLite (the others are logged
        and skipped). Returns the offsets to commit, which cover the whole
        batch: everything in it is now durable or deliberately skipped."""
        offers, offsets = [], {}
        for msg in messages:
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            content_type = None
            for name, value in msg.headers() or ():
                if name.lower() == "content-type":
                    content_type = (value or b"").decode("utf-8", "replace")
            try:
                offers.append(parse_offer(msg.value(), content_type))
            except BadMessage as e:
                self.counts["skipped"] += 1
                log("warn", "message skipped", topic=msg.topic(), partition=msg.partition(),
                    offset=msg.offset(), reason=str(e))
        for offer, new in zip(offers, self.state.record(offers)):
            data = offer.data
            ids = {"offer_id": data["offer_id"], "customer_id": data["customer_id"]}
            if not new:
                self.counts["duplicates"] += 1
                log("info", "duplicate offer dropped", **ids)
                continue
            self.counts["recorded"] += 1
            if offer.send_after_us > now_us:
                log("info", "offer held", **ids, send_after=data["send_after"])
            else:
                log("info", "offer recorded", **ids)
        return offsets

    def deliver_due(self, now_us):
        """Sends, expires or fails every offer due at now_us."""
        while True:
            due = self.state.due(now_us)
            for seq, offer in due:
                status, error = self.deliver(offer, now_us)
                self.state.finish(seq, status, error)
                self.counts[status] += 1
            if len(due) < DELIVER_BATCH_MAX:
                return

    def deliver(self, offer, now_us):
        """Delivers one due offer: (status, error) to record for it."""
        data = offer.data
        ids = {"offer_id": data["offer_id"], "customer_id": data["customer_id"]}
        if offer.expires_at_us and offer.expires_at_us <= now_us:
            log("info", "offer expired", **ids, expires_at=data["expires_at"])
            return "expired", None
        channel = data["channel"]
        to = (self.contacts.get(data["customer_id"]) or {}).get(CHANNELS[channel])
        if not isinstance(to, str) or not to:
            error = f"the directory has no {CHANNELS[channel]} for the customer"
            log("error", "offer failed", **ids, channel=channel, reason=error)
            return "failed", error
        try:
            locale = self.templates.choose(data["template"], data["locale"])
            if locale != data["locale"]:
                log("info", "template fallback", **ids, template=data["template"],
                    locale=data["locale"], used=locale)
            blocks = self.templates.render(data, locale)
        except Exception as e:  # templates are the shop's code: fail the offer, not the mailer
            error = describe(e, self.templates.root)
            log("error", "offer failed", **ids, template=data["template"], locale=data["locale"],
                reason=error)
            return "failed", error
        message = {**ids, "channel": channel, "to": to, "locale": locale,
                   "template": data["template"]}
        if channel == "email":
            message.update(subject=blocks["subject"], body=blocks["email"])
        else:
            message["body"] = blocks["sms"]
        message["sent_at"] = format_time(now_us)
        self.gateway.send(message)
        log("info", "offer sent", **ids, channel=channel, template=data["template"], locale=locale)
        return "sent", None


# ---- the consumer ----

def load_contacts(path):
    """The shop's directory: {customer_id: {"email": ..., "phone": ...}}."""
    with open(path, encoding="utf-8") as f:
        contacts = json.load(f)
    if not isinstance(contacts, dict) or not all(isinstance(c, dict) for c in contacts.values()):
        raise ValueError("not an object of objects")
    return contacts


def run(args):
    """Consumes until SIGTERM or SIGINT, or with --until-idle until nothing
    has arrived for that long; prints what it did as one JSON line."""
    try:
        if not os.path.isdir(args.templates):
            raise OSError(f'no templates directory "{args.templates}"')
        contacts = load_contacts(args.contacts)
        state = State(args.state)
        gateway = Gateway(args.out)
    except (OSError, ValueError, sqlite3.Error) as e:
        log("error", "cannot start", reason=str(e))
        return 1
    clock = (lambda: args.now) if args.now is not None else wall_us
    mailer = Mailer(state, Templates(args.templates, args.default_locale), contacts, gateway)
    retried = state.retry_failed()
    if retried:
        log("info", "retrying failed offers", count=retried)

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    kafka_log = logging.getLogger("librdkafka")
    kafka_log.addHandler(KafkaLogHandler())
    kafka_log.propagate = False
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "client.id": "loyalty-mailer",
        "enable.auto.commit": False,  # committed by hand, after SQLite
        "auto.offset.reset": "earliest",
        "logger": kafka_log,
        "error_cb": lambda err: log("warn", "kafka error", code=err.name(), reason=err.str()),
    })
    started = last = time.monotonic()
    assigned = []

    def on_assign(consumer, partitions):
        nonlocal last
        assigned.append(len(partitions))
        last = time.monotonic()
        log("info", "partitions assigned", topic=args.topic, count=len(partitions))

    consumer.subscribe([args.topic], on_assign=on_assign)
    status = 0
    try:
        while not stop:
            messages = consumer.consume(BATCH_MESSAGES_MAX, POLL_TIMEOUT_S)
            good = [msg for msg in messages if msg.error() is None]
            errors = [msg.error() for msg in messages if msg.error() is not None]
            for err in errors:
                log("error" if err.fatal() else "warn", "kafka error", code=err.name(),
                    reason=err.str())
            if any(err.fatal() for err in errors):
                status = 1
                break
            if good:
                last = time.monotonic()
                offsets = mailer.record(good, clock())
                try:
                    consumer.commit(asynchronous=False, offsets=[
                        TopicPartition(topic, partition, offset)
                        for (topic, partition), offset in offsets.items()])
                except KafkaException as e:
                    log("warn", "offset commit failed; the batch comes again and is dropped"
                        " as duplicates", reason=str(e))
            mailer.deliver_due(clock())
            if args.until_idle is not None:
                if not assigned and time.monotonic() - started > JOIN_TIMEOUT_S:
                    log("error", "no partitions assigned", topic=args.topic, seconds=JOIN_TIMEOUT_S)
                    status = 1
                    break
                if assigned and (time.monotonic() - last) * 1000 >= args.until_idle:
                    break
    finally:
        consumer.close()
    summary = dict(mailer.counts, held=state.held(clock()))
    log("info", "stopped", **summary)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return status


# ---- --check-templates ----

def check_templates(root, default_locale):
    """Renders every template of every locale, for each channel, with the
    sample offer of templates/samples.json, once as it is and once without
    the optional first_name and points_earned. Fails on a template missing
    in a locale or without a sample, any render error, an empty block and
    an SMS over SMS_CHARS_MAX characters, and on a default locale without
    templates. Returns the exit status."""
    templates = Templates(root, default_locale)
    with open(os.path.join(root, "samples.json"), encoding="utf-8") as f:
        samples = json.load(f)
    locales = templates.locales()
    names = sorted({n for locale in locales for n in templates.names(locale)}
                   | set(samples["templates"]))
    problems, longest, renders = [], (0, ""), 0
    if default_locale not in locales:
        problems.append(f'the default locale "{default_locale}" has no templates')
    for name in names:
        if name not in samples["templates"]:
            problems.append(f'{name}: no sample in samples.json')
            continue
        sample = samples["templates"][name]
        data = {"template": name, "code": sample.get("code"),
                "vars": {**samples["vars"], **sample.get("vars", {})}}
        bare = {**data, "vars": {k: v for k, v in data["vars"].items()
                                 if k not in ("first_name", "points_earned")}}
        for locale in locales:
            where = f"{locale}/{name}.j2"
            if not templates.exists(locale, name):
                problems.append(f"{where}: missing")
                continue
            for variant in (data, bare):
                for channel in BLOCKS:
                    try:
                        out = templates.render({**variant, "channel": channel}, locale)
                    except Exception as e:
                        error = describe(e, root)  # leads with its file when it has one
                        if not error.startswith(f"{locale}/"):
                            error = f"{where}: {error}"
                        problems.append(error)
                        continue
                    renders += 1
                    for block, text in out.items():
                        if not text:
                            problems.append(f'{where}: block "{block}" renders empty')
                    sms = out.get("sms", "")
                    if len(sms) > SMS_CHARS_MAX:
                        problems.append(f"{where}: the SMS has {len(sms)} characters, over "
                                        f"{SMS_CHARS_MAX}: {sms}")
                    longest = max(longest, (len(sms), where))
    for problem in dict.fromkeys(problems):  # one line each, in order
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{len(names)} templates in {len(locales)} locales ({', '.join(locales)}): "
          f"{renders} renders, longest SMS {longest[0]} characters ({longest[1]})")
    return 0


# ---- arguments ----

def rfc3339(text):
    try:
        return parse_time(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def milliseconds(text):
    if not text.isdigit() or int(text) > 86_400_000:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number of milliseconds up to a day')
    return int(text)


def locale_name(text):
    if not LOCALE_RE.match(text):
        raise argparse.ArgumentTypeError(f'"{text}" is not a locale such as tr or en')
    return text


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="mailer.py", description="A sample mailer for loyaltyd's loyalty.offer events.")
    p.add_argument("--check-templates", action="store_true",
                   help="render every template with sample vars, then exit (no broker)")
    p.add_argument("--brokers", help="Kafka bootstrap servers, host:port[,...]")
    p.add_argument("--topic", default="loyalty.offers")
    p.add_argument("--group", default="loyalty-mailer", help="consumer group id")
    p.add_argument("--state", help="the SQLite file of offers seen (created if missing)")
    p.add_argument("--templates", default=os.path.join(HERE, "templates"),
                   help="DIR/<locale>/<template>.j2 (default: the ones beside this file)")
    p.add_argument("--contacts", help='JSON directory: {"c-1": {"email": ..., "phone": ...}}')
    p.add_argument("--out", help="the gateway: JSON lines, one per message sent (appended)")
    p.add_argument("--default-locale", type=locale_name, default="tr",
                   help="the copy used when an offer's locale has none (default tr)")
    p.add_argument("--now", type=rfc3339,
                   help="a fixed clock, RFC 3339 (tests); default the real clock")
    p.add_argument("--until-idle", type=milliseconds, metavar="MS",
                   help="exit once nothing has arrived for MS milliseconds")
    args = p.parse_args(argv)
    if not args.check_templates:
        missing = [f"--{a}" for a in ("brokers", "state", "contacts", "out")
                   if getattr(args, a) is None]
        if missing:
            p.error(f"missing {', '.join(missing)}")
    return args


def main(argv):
    args = parse_args(argv)
    if args.check_templates:
        return check_templates(args.templates, args.default_locale)
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
