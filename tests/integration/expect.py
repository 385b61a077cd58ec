"""Computes what tests/integration/program.yaml gives, from the raw input
messages (one JSON CloudEvent per line on stdin), without loyaltyd's code:
a second implementation to compare PostgreSQL against.

  expect.py --ledger FILE --limits FILE --budget FILE --codes FILE
            [--budget-crossed]

The files are the test schema's tables, tab-separated (see db_facts in
lib.sh). Every ledger line must be one this computation expects, with the
event's type; the limit counts and the codes must be exactly the expected
ones. A budget is shared by all customers, so which firing meets its cap
depends on the arrival order across partitions (SPEC section 8): for the
budget rule the ledger's choice is checked instead of recomputed (each
credit is one the rule earns on its event, they sum to the stored spent,
which is within the cap, and every firing left out would have crossed it)
and then counted in the balances. --budget-crossed requires that at least
one firing was left out. With LOYALTY_CODES_SECRET in the environment,
each code must also be one of the secret's draws for its order and rule
(codes.py).

Prints "customer<TAB>available<TAB>pending" for every non-zero balance,
sorted; exits non-zero, saying why, when a check fails. Malformed lines are
skipped (they go to the DLQ, earning nothing).
"""
import argparse
import datetime
import json
import os
import sys
from zoneinfo import ZoneInfo

from codes import CODE_ALPHABET, CODE_DRAWS_MAX, CODE_LENGTH, derive_code

# outdoor-day is active on 1 November 2026 in Europe/Istanbul (UTC+3).
OUTDOOR_FROM = "2026-10-31T21:00:00Z"
OUTDOOR_UNTIL = "2026-11-01T21:00:00Z"
ZONE = ZoneInfo("Europe/Istanbul")
REVIEW_DAILY_LIMIT = 2
BUDGET_RULE = "electronics-campaign"
BUDGET_CAP = 15000
GIFT_RULE = "big-order-gift"
GIFT_MIN_TOTAL = 300000
GIFT_AMOUNT = 10000
GIFT_VALID = datetime.timedelta(days=90)


def fail(msg):
    print(f"expect.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_tsv(path, columns):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            row = line.split("\t")
            if len(row) != columns:
                fail(f"{path}:{n}: {len(row)} columns, want {columns}")
            rows.append(row)
    return rows


def parse_time(text):
    # Whole-second UTC "YYYY-MM-DDTHH:MM:SSZ" strings, as produced; they
    # also compare correctly as text.
    assert len(text) == 20 and text.endswith("Z"), text
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


args = argparse.ArgumentParser()
args.add_argument("--ledger", required=True)
args.add_argument("--limits", required=True)
args.add_argument("--budget", required=True)
args.add_argument("--codes", required=True)
args.add_argument("--budget-crossed", action="store_true")
opts = args.parse_args()

seen = set()
postings = {}     # (customer, source, id, rule) -> (available, pending)
event_types = {}  # (customer, source, id) -> type
limits = {}       # (customer, rule, day) -> count
limited = 0       # review-daily firings the limit refused
budget_firings = {}  # (customer, source, id) -> the points it would earn
gifts = {}        # (customer, source, id) -> valid_until text


def earn(key, rule, available=0, pending=0):
    # a firing that earns 0 points writes no ledger line
    if available or pending:
        postings[key + (rule,)] = (available, pending)


for line in sys.stdin:
    try:
        event = json.loads(line)
        data = event["data"]
        customer = data["customer_id"]
        key = (customer, event["source"], event["id"])
        kind = event["type"]
        time = event["time"]
    except (ValueError, KeyError, TypeError):
        continue
    if key in seen:
        continue
    seen.add(key)
    event_types[key] = kind
    when = parse_time(time)
    if kind == "order.paid":
        items = data["items"]
        earn(key, "base-earn", pending=data["total"] // 100)
        earn(key, "order-bonus", available=25)
        if data["total"] >= 100000 and sum(1 for i in items if i["quantity"] >= 2) >= 2:
            earn(key, "big-basket", available=100)
        if OUTDOOR_FROM <= time < OUTDOOR_UNTIL:
            outdoor = sum(i["unit_price"] * i["quantity"] for i in items if i["category"] == "outdoor")
            earn(key, "outdoor-day", available=outdoor // 1000 * 3)
        if any(i["category"] == "electronics" for i in items):
            electronics = sum(i["unit_price"] * i["quantity"] for i in items if i["category"] == "electronics")
            if electronics // 1000 * 2:  # a firing of 0 points spends nothing
                budget_firings[key] = electronics // 1000 * 2
        if data["total"] >= GIFT_MIN_TOTAL:
            gifts[key] = (when + GIFT_VALID).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif kind == "review.submitted":
        # A customer's reviews are on one partition, so they arrive in
        # the order they were produced.
        day = (customer, "review-daily", when.astimezone(ZONE).date().isoformat())
        if limits.get(day, 0) < REVIEW_DAILY_LIMIT:
            limits[day] = limits.get(day, 0) + 1
            earn(key, "review-daily", available=15)
        else:
            limited += 1
        if data["verified_purchase"] and data["has_photo"]:
            earn(key, "photo-review", available=80)  # stop
        else:
            earn(key, "review", available=50)
    elif kind == "social.interaction":
        if data["platform"] in ("instagram", "tiktok") or data["action"] == "ugc":
            earn(key, "social", available=10)

# Balances: every expected line, then the budget credits checked below.
balances = {}
for (c, _, _, _), (a, p) in postings.items():
    ba, bp = balances.get(c, (0, 0))
    balances[c] = (ba + a, bp + p)

# The ledger: every line expected, with its event's type; the budget rule's
# lines are the firings the worker let through.
budget_got = {}
for c, so, i, t, r, da, dp in read_tsv(opts.ledger, 7):
    key = (c, so, i)
    if event_types.get(key) != t:
        fail(f"ledger line of {key} has type {t!r}, want {event_types.get(key)!r}")
    da, dp = int(da), int(dp)
    if r == BUDGET_RULE:
        if key in budget_got:
            fail(f"{BUDGET_RULE} credited {key} twice")
        if budget_firings.get(key) != da or dp != 0:
            fail(f"{BUDGET_RULE} credited {key} {da}/{dp}, want {budget_firings.get(key)}/0")
        budget_got[key] = da
        continue
    want = postings.pop(key + (r,), None)
    if want != (da, dp):
        fail(f"ledger line {key} rule {r!r}: {da}/{dp}, want {want}")
if postings:
    k, v = next(iter(postings.items()))
    fail(f"{len(postings)} expected ledger lines missing, e.g. {k}: {v}")

# The budget: the credits sum to the stored spent, within the cap, and
# every firing left out would have crossed it whatever came before it.
spent_rows = read_tsv(opts.budget, 2)
spent = 0
for rule, value in spent_rows:
    if rule != BUDGET_RULE:
        fail(f"rule_budgets holds rule {rule!r}")
    spent = int(value)
credited = sum(budget_got.values())
if credited != spent:
    fail(f"{BUDGET_RULE}: ledger credits {credited}, rule_budgets.spent {spent}")
if spent > BUDGET_CAP:
    fail(f"{BUDGET_RULE}: spent {spent} exceeds the budget {BUDGET_CAP}")
left_out = {k: v for k, v in budget_firings.items() if k not in budget_got}
fits = [k for k, v in left_out.items() if spent + v <= BUDGET_CAP]
if fits:
    fail(f"{BUDGET_RULE}: {len(fits)} firings left out though they fit, e.g. "
         f"{fits[0]} for {left_out[fits[0]]} with {spent} of {BUDGET_CAP} spent")
if opts.budget_crossed and not left_out:
    fail(f"{BUDGET_RULE}: every firing fitted ({spent} of {BUDGET_CAP}); "
         "the test needs traffic that crosses the budget")
print(f"expect.py: {BUDGET_RULE}: {len(budget_got)} of {len(budget_firings)} "
      f"firings credited, {spent} of {BUDGET_CAP} spent", file=sys.stderr)

# Limit counts: one row per customer and Istanbul day with a review.
got_limits = {}
for c, r, period, count in read_tsv(opts.limits, 4):
    got_limits[(c, r, period)] = int(count)
if got_limits != limits:
    diff = sorted(set(got_limits.items()) ^ set(limits.items()))
    fail(f"rule_limits differ from the expected counts, e.g. {diff[:4]}")

# Codes: one gift card per qualifying order, unique, 12 characters of the
# alphabet, valid 90 days from the order's time and, when the test's secret
# is known, the one drawn for the order and rule under that secret.
secret = os.environ.get("LOYALTY_CODES_SECRET", "").encode()
codes = set()
got_gifts = {}
for c, code, kind, amount, percent, min_order, until, so, i, r, status in read_tsv(opts.codes, 11):
    key = (c, so, i)
    if len(code) != CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
        fail(f"code {code!r} of {key} is not {CODE_LENGTH} characters of the alphabet")
    if secret and all(code != derive_code(secret, so, i, r, n) for n in range(CODE_DRAWS_MAX + 1)):
        fail(f"code {code!r} of {key} is not one the secret draws for it")
    if code in codes:
        fail(f"code {code!r} issued twice")
    codes.add(code)
    if key in got_gifts:
        fail(f"two codes for {key}")
    if (r, kind, int(amount), int(percent), int(min_order), status) != \
            (GIFT_RULE, "gift_card", GIFT_AMOUNT, 0, 0, "issued"):
        fail(f"code {code!r} of {key}: {r} {kind} {amount} {percent} {min_order} {status}")
    got_gifts[key] = until
if got_gifts != gifts:
    diff = sorted(set(got_gifts.items()) ^ set(gifts.items()))
    fail(f"codes differ from the expected gift cards ({len(got_gifts)} rows, "
         f"{len(gifts)} qualifying orders), e.g. {diff[:4]}")
print(f"expect.py: {len(codes)} gift cards; review-daily fired "
      f"{sum(limits.values())} times in {len(limits)} customer-days, "
      f"{limited} times refused by its limit", file=sys.stderr)

for (c, _, _), points in budget_got.items():
    a, p = balances.get(c, (0, 0))
    balances[c] = (a + points, p)
for customer in sorted(balances):
    available, pending = balances[customer]
    if available or pending:
        print(f"{customer}\t{available}\t{pending}")
