"""Computes what tests/integration/program.yaml gives, from the raw input
messages (one JSON CloudEvent per line on stdin), without loyaltyd's code:
a second implementation to compare PostgreSQL against.

  expect.py --ledger FILE --limits FILE --budget FILE --codes FILE
            [--lots FILE] [--code-uses FILE] [--budget-crossed]
  expect.py --selftest

The files are the test schema's tables, tab-separated (see db_facts in
lib.sh). Prints "customer<TAB>available<TAB>pending" for every non-zero
balance, sorted; exits non-zero, saying why, when a check fails. Malformed
lines are skipped (they go to the DLQ, earning nothing). Integer arithmetic
only, as in SPEC section 2. One customer's events of one topic are taken to
be in the order of its partition (a topic dump or the producer's output);
the topics of one customer interleave in any way (see Requests and Lots).

Earning. Every ledger line must be one this computation expects, with the
event's type. order.paid rules: base-earn is pending (pending_days 14; no
scheduler runs in the tests and the sample traffic spans hours, so a pending
lot is never released), every other rule is `pending: false`. The limit
counts and the codes must be exactly the expected ones. A budget is shared
by all customers, so which firing meets its cap depends on the arrival
order across partitions (SPEC section 8): for the budget rule the ledger's
choice is checked instead of recomputed (each credit is one the rule earns
on its order.paid, they sum to the stored spent, which is within the cap,
and every firing left out would have crossed it) and then taken as what the
rule earned on that order. --budget-crossed requires that at least one
firing was left out. With LOYALTY_CODES_SECRET in the environment, each
code must also be one of the secret's draws for its event and rule
(codes.py).

Orders, refunds and cancellations (docs/lifecycle.md). An order.paid records
its total T and the points E each rule earned on it. A second order.paid
for an order id already paid (by that customer) changes nothing: no line,
no code, no budget, no limit. order.refunded raises the refunded sum R by
`amount` (absent: the whole remaining total), capped at T; order.cancelled
refunds the whole remaining total; a refund of an order already fully
refunded changes nothing. After each refund, every rule of the order has
reversed exactly floor(E * R / T) (T = 0: E from the first refund or
cancellation on, which leaves such an order fully refunded): the refund
writes one ledger line per rule whose reversal grew, for the growth
(no line when it did not grow), with the refund's event and type and the
rule's id. The growth is taken from that rule's pending lot of the order
first (delta_pending), the rest from available points (delta_available).
Budgets and limit counts are not given back. The gift card the order
issued is voided (codes.status 'voided', one code_uses row
'voided_by_refund' under the refund's event) by the first refund applied
to the order (no code is ever used in the sample traffic). A refund whose
order was not paid before it (on that customer's orders partition) is held
and changes nothing; the order's order.paid applies it right after itself.

Requests (docs/lifecycle.md, "Redemptions and adjustments"), on the
requests partition, applied in its order per customer. A request whose
request_id that customer used before (on either type, applied or rejected)
changes nothing. points.adjust writes one ledger line with no rule
(rule_id NULL, delta_available = points); positive points are a lot
available at once, negative ones a debit. points.redeem of a reward the
catalogue (REWARDS, the program's `rewards`) does not have is rejected
(unknown_reward): no line, no code. Otherwise it completes when the
available points, before it, cover the reward's cost: a ledger line with no
rule, delta_available = -cost (a debit), and the reward's code (rule_id
reward:<id>, the reward's kind, amount, percent and min_order, valid its
valid_days from the request's time, status issued); when they do not, it
is rejected (insufficient_points): no line, no code. The available points
at a redeem are what the customer's requests before it added, plus some
prefix of each other partition (any interleaving): the outcome is computed
only when the same for every prefix, from the least and the most those
prefixes add; a redemption the interleaving could decide either way fails
the check (a test's input must not have one: `loyaltyctl produce
--requests` writes a redeem only when the customer's own adjust credits
cover it).

Lots. Every positive line of an event is a lot (points, remaining,
released: false for a pending credit). A pending lot's remaining is its
points less what refunds took from it. Debits of available points (refund
reversals, redemptions, negative adjustments) consume the released lots
oldest first (by available_at = event time, then by credit order); the
balance may go negative (a debt) and later credits pay it first, their lots
keeping only the rest. Which released lot a debit takes depends on when the
worker applied the customer's other partitions relative to it: any
interleaving of the customer's orders, reviews, social and requests
partitions is a valid processing order, and a review with an earlier time
applied after a refund or a redemption is not debited retroactively. So:
  - unreleased lots: remaining is exact (only refunds take from them);
  - per customer: the released lots' remaining sums to max(available, 0),
    the unreleased lots' to pending;
  - a released lot's remaining is exact when every interleaving gives the
    same result. That is known when at most one of the customer's
    partitions debits (orders with a refund taken from available points, or
    requests with a redemption or a negative adjustment) and either the
    lots of the partitions that only credit are untouched even when they
    are all applied before the debiting one (then its lots take every debit
    in the same order whatever the interleaving), or it is a lot of the
    debiting partition credited after that partition's last debit while
    the partition alone never makes a debt (then no interleaving does: it
    stays whole). Otherwise (including every customer with debits on two
    partitions, such as a refund and a redemption) 0 <= remaining <=
    points. The expected value is that of the time-ordered interleaving.
--lots and --code-uses are optional; without them those tables are not
checked.

--selftest runs the hand-computed examples in selftest() and exits.
"""
import argparse
import datetime
import heapq
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
REFUND_TYPES = ("order.refunded", "order.cancelled")
# The rewards catalogue: id -> (cost, kind, amount, percent, min_order,
# valid_days) of the code a redemption issues.
REWARDS = {"tl5": (500, "discount", 500, 0, 5000, 14),
           "pct10": (1500, "discount", 0, 10, 0, 30),
           "gift50": (2500, "gift_card", 5000, 0, 0, 90)}
# The partition (topic) an input type comes on: one customer's events of
# one topic are applied in their order, the topics interleave freely.
TOPICS = {"order.paid": "orders", "order.refunded": "orders", "order.cancelled": "orders",
          "review.submitted": "reviews", "social.interaction": "social",
          "survey.completed": "social", "points.adjust": "requests",
          "points.redeem": "requests"}
PARTITIONS = ("orders", "reviews", "social", "requests")
# The data fields this computation reads; an event without them is malformed.
REQUIRED = {"order.paid": ("order_id", "total", "items"),
            "order.refunded": ("order_id",), "order.cancelled": ("order_id",),
            "review.submitted": ("verified_purchase", "has_photo"),
            "social.interaction": ("platform", "action"),
            "points.adjust": ("request_id", "points", "reason"),
            "points.redeem": ("request_id", "reward")}


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


class Event:
    def __init__(self, key, kind, time, data):
        self.key = key            # (customer, source, id)
        self.customer = key[0]
        self.type = kind
        self.time = time          # the CloudEvents time, as text
        self.data = data


def parse(lines):
    """The applied events in input order: well-formed, first copy of each
    (source, id) per customer."""
    events, seen = [], set()
    for line in lines:
        try:
            event = json.loads(line)
            data = event["data"]
            key = (data["customer_id"], event["source"], event["id"])
            kind = event["type"]
            time = event["time"]
            if any(f not in data for f in REQUIRED.get(kind, ())):
                continue
            if kind == "points.adjust" and (type(data["points"]) is not int or not data["points"]):
                continue
        except (ValueError, KeyError, TypeError):
            continue
        if key in seen:
            continue
        seen.add(key)
        parse_time(time)
        events.append(Event(key, kind, time, data))
    return events


class Lot:
    def __init__(self, points, released):
        self.points = points
        self.remaining = points
        self.released = released
        self.exact = True  # remaining is the same whatever the interleaving


class Order:
    def __init__(self, key, total):
        self.key = key          # the order.paid's (customer, source, id)
        self.total = total      # T
        self.refunded = 0       # R
        self.closed = False     # fully refunded or cancelled
        self.earned = {}        # rule -> E, in rule order
        self.reversed = {}      # rule -> floor(E * R / T) so far
        self.pending_lots = {}  # rule -> its pending Lot
        self.gift = False       # issued a gift card


class Wallet:
    """One customer's released lots in one processing order: credits pay a
    debt first, debits take the oldest lots first (available_at, then credit
    order) and leave a debt when the lots do not cover them."""

    def __init__(self):
        self.lots = []  # [available_at, credit order, lot key, points, remaining]
        self.debt = 0
        self.owed = False  # a debt arose at some point

    def credit(self, when, key, points):
        paid = min(self.debt, points)
        self.debt -= paid
        self.lots.append([when, len(self.lots), key, points, points - paid])

    def debit(self, points):
        for lot in sorted(self.lots, key=lambda lot: (lot[0], lot[1])):
            take = min(lot[4], points)
            lot[4] -= take
            points -= take
            if points == 0:
                return
        self.debt += points
        self.owed = True

    def remaining(self):
        return {lot[2]: lot[4] for lot in self.lots}


def run_wallet(ops):
    # ops: (time, "credit", lot key, points) or (time, "debit", None, points)
    wallet = Wallet()
    for when, op, key, points in ops:
        if op == "credit":
            wallet.credit(when, key, points)
        else:
            wallet.debit(points)
    return wallet


class Model:
    """What the program gives for the events. budget_credits: the budget
    rule's credits the ledger chose ({order.paid key: points}); None on the
    first pass, which only finds the firings (budget_firings)."""

    def __init__(self, events, budget_credits):
        self.budget_credits = budget_credits
        self.types = {}          # (customer, source, id) -> type
        self.postings = {}       # (customer, source, id, rule) -> (available, pending)
        self.lots = {}           # (customer, source, id, rule) -> Lot
        self.limits = {}         # (customer, rule, day) -> count
        self.limited = 0         # review-daily firings the limit refused
        self.budget_firings = {}  # order.paid key -> the points it would earn
        self.gifts = {}          # order.paid key -> valid_until text
        self.voided = {}         # order.paid key -> the refund key that voided its card
        self.orders = {}         # (customer, order_id) -> Order
        self.held = {}           # (customer, order_id) -> [refund Event]
        self.duplicate_orders = 0
        self.refunds_applied = 0
        self.refunds_noop = 0    # of an order already fully refunded
        self.ops = {}            # customer -> topic -> [wallet op], in applying order
        self.requests_seen = {}  # customer -> request ids applied (or rejected)
        self.requests_repeated = 0
        self.adjusts = 0
        self.reward_codes = {}   # points.redeem key -> the code row it issues
        self.rejected = {}       # points.redeem key -> reason
        self.undetermined = []   # (redeem key, cost, least, most available)
        requests = []
        for ev in events:
            self.types[ev.key] = ev.type
            if TOPICS.get(ev.type) == "requests":
                requests.append(ev)  # once the other topics are known
                continue
            handler = {"order.paid": self.order_paid, "order.refunded": self.refund,
                       "order.cancelled": self.refund, "review.submitted": self.review,
                       "social.interaction": self.social}.get(ev.type)
            if handler:
                handler(ev)
        self.apply_requests(requests)
        self.settle_lots()

    def wallet_op(self, ev, op, key, points):
        topics = self.ops.setdefault(ev.customer, {t: [] for t in PARTITIONS})
        topics[TOPICS[ev.type]].append((ev.time, op, key, points))

    def earn(self, ev, rule, points, pending=False):
        # a firing that earns 0 points writes no ledger line and no lot
        if points == 0:
            return None
        key = ev.key + (rule,)
        self.postings[key] = (0, points) if pending else (points, 0)
        self.lots[key] = lot = Lot(points, released=not pending)
        if not pending:
            self.wallet_op(ev, "credit", key, points)
        return lot

    def order_paid(self, ev):
        data, customer = ev.data, ev.customer
        order_id = (customer, data["order_id"])
        if order_id in self.orders:
            self.duplicate_orders += 1  # DLQ (evaluation_error): nothing changes
            return
        order = self.orders[order_id] = Order(ev.key, data["total"])
        items = data["items"]
        earned = [("base-earn", data["total"] // 100, True), ("order-bonus", 25, False)]
        if data["total"] >= 100000 and sum(1 for i in items if i["quantity"] >= 2) >= 2:
            earned.append(("big-basket", 100, False))
        if OUTDOOR_FROM <= ev.time < OUTDOOR_UNTIL:
            outdoor = sum(i["unit_price"] * i["quantity"] for i in items if i["category"] == "outdoor")
            earned.append(("outdoor-day", outdoor // 1000 * 3, False))
        if any(i["category"] == "electronics" for i in items):
            electronics = sum(i["unit_price"] * i["quantity"] for i in items
                              if i["category"] == "electronics")
            if electronics // 1000 * 2:  # a firing of 0 points spends nothing
                self.budget_firings[ev.key] = electronics // 1000 * 2
            if self.budget_credits and ev.key in self.budget_credits:
                earned.append((BUDGET_RULE, self.budget_credits[ev.key], False))
        for rule, points, pending in earned:
            lot = self.earn(ev, rule, points, pending)
            if lot:
                order.earned[rule] = points
                order.reversed[rule] = 0
                if pending:
                    order.pending_lots[rule] = lot
        if data["total"] >= GIFT_MIN_TOTAL:
            self.gifts[ev.key] = (parse_time(ev.time) + GIFT_VALID).strftime("%Y-%m-%dT%H:%M:%SZ")
            order.gift = True
        # refunds that came before the order: right after it, in their order
        for refund in self.held.pop(order_id, []):
            self.apply_refund(refund, order)

    def refund(self, ev):
        order_id = (ev.customer, ev.data["order_id"])
        order = self.orders.get(order_id)
        if order is None:
            self.held.setdefault(order_id, []).append(ev)  # held: nothing changes
            return
        self.apply_refund(ev, order)

    def apply_refund(self, ev, order):
        if order.closed:
            self.refunds_noop += 1  # already fully refunded: nothing changes
            return
        self.refunds_applied += 1
        left = order.total - order.refunded
        amount = ev.data.get("amount") if ev.type == "order.refunded" else None
        order.refunded += left if amount is None else min(int(amount), left)
        order.closed = order.refunded == order.total
        for rule, earned in order.earned.items():
            if order.total:
                target = earned * order.refunded // order.total
            else:
                target = earned if order.closed else 0
            delta = target - order.reversed[rule]
            if delta == 0:
                continue  # nothing more to reverse: no line
            order.reversed[rule] = target
            from_pending = 0
            lot = order.pending_lots.get(rule)
            if lot and not lot.released:
                from_pending = min(delta, lot.remaining)
                lot.remaining -= from_pending
            from_available = delta - from_pending
            self.postings[ev.key + (rule,)] = (-from_available, -from_pending)
            if from_available:
                self.wallet_op(ev, "debit", None, from_available)
        if order.gift and order.key not in self.voided:
            self.voided[order.key] = ev.key

    def review(self, ev):
        # A customer's reviews are on one partition, so they arrive in
        # the order they were produced.
        data, customer = ev.data, ev.customer
        day = (customer, "review-daily", parse_time(ev.time).astimezone(ZONE).date().isoformat())
        if self.limits.get(day, 0) < REVIEW_DAILY_LIMIT:
            self.limits[day] = self.limits.get(day, 0) + 1
            self.earn(ev, "review-daily", 15)
        else:
            self.limited += 1
        if data["verified_purchase"] and data["has_photo"]:
            self.earn(ev, "photo-review", 80)  # stop
        else:
            self.earn(ev, "review", 50)

    def social(self, ev):
        data = ev.data
        if data["platform"] in ("instagram", "tiktok") or data["action"] == "ugc":
            self.earn(ev, "social", 10)

    def other_topics(self, customer):
        """The least and the most the customer's orders, reviews and social
        partitions can have added to its available points when one of its
        requests is applied: any prefix of each partition may have been
        applied by then (SPEC section 8)."""
        least = most = 0
        for topic in ("orders", "reviews", "social"):
            run = low = high = 0
            for _, op, _, points in self.ops.get(customer, {}).get(topic, ()):
                run += points if op == "credit" else -points
                low, high = min(low, run), max(high, run)
            least, most = least + low, most + high
        return least, most

    def apply_requests(self, requests):
        """points.adjust and points.redeem, each customer's in the order of
        its requests partition, after every other event (see Requests at
        the top)."""
        net = {}  # customer -> what its requests have added to available so far
        for ev in requests:
            customer, data = ev.customer, ev.data
            seen = self.requests_seen.setdefault(customer, set())
            if data["request_id"] in seen:
                self.requests_repeated += 1  # applied once: nothing changes
                continue
            seen.add(data["request_id"])
            line = ev.key + ("",)  # a ledger line with no rule
            if ev.type == "points.adjust":
                points = data["points"]
                self.adjusts += 1
                self.postings[line] = (points, 0)
                if points > 0:
                    self.lots[line] = Lot(points, released=True)
                    self.wallet_op(ev, "credit", line, points)
                else:
                    self.wallet_op(ev, "debit", None, -points)
                net[customer] = net.get(customer, 0) + points
                continue
            reward = REWARDS.get(data["reward"])
            if reward is None:
                self.rejected[ev.key] = "unknown_reward"
                continue
            cost, kind, amount, percent, min_order, valid_days = reward
            least, most = self.other_topics(customer)
            least += net.get(customer, 0)
            most += net.get(customer, 0)
            if least < cost <= most:
                self.undetermined.append((ev.key, cost, least, most))
                continue
            if cost > most:
                self.rejected[ev.key] = "insufficient_points"
                continue
            self.postings[line] = (-cost, 0)
            self.wallet_op(ev, "debit", None, cost)
            net[customer] = net.get(customer, 0) - cost
            until = (parse_time(ev.time) + datetime.timedelta(days=valid_days)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
            self.reward_codes[ev.key] = ("reward:" + data["reward"], kind, amount, percent,
                                         min_order, until, "issued")

    def settle_lots(self):
        """The released lots' remaining: the time-ordered interleaving of
        each customer's topics, exact where no interleaving can change it
        (see Lots at the top)."""
        self.undetermined_customers = 0
        for topics in self.ops.values():
            debiting = [t for t in PARTITIONS if any(op[1] == "debit" for op in topics[t])]
            in_time = run_wallet(heapq.merge(*(topics[t] for t in PARTITIONS),
                                             key=lambda op: op[0])).remaining()
            exact = False
            if len(debiting) <= 1:
                own = topics[debiting[0]] if debiting else []
                side = list(heapq.merge(*(topics[t] for t in PARTITIONS if t not in debiting),
                                        key=lambda op: op[0]))
                side_first = run_wallet(side + own).remaining()
                exact = all(side_first[op[2]] == op[3] for op in side)
                if exact:
                    assert in_time == side_first, (in_time, side_first)
            if not exact:
                self.undetermined_customers += 1
            for key, remaining in in_time.items():
                self.lots[key].remaining = remaining
                self.lots[key].exact = exact
            if exact or len(debiting) != 1 or run_wallet(own).owed:
                continue
            # No debt arises from the one debiting partition alone, so none
            # in any interleaving (the others only add points before a
            # debit): its lots credited after its last debit stay whole.
            last = max(n for n, op in enumerate(own) if op[1] == "debit")
            for _, op, key, points in own[last:]:
                if op == "credit":
                    assert in_time[key] == points, (key, in_time[key])
                    self.lots[key].exact = True

    def balances(self):
        balances = {}
        for (c, _, _, _), (a, p) in self.postings.items():
            ba, bp = balances.get(c, (0, 0))
            balances[c] = (ba + a, bp + p)
        return balances


def check_lots(model, path, balances):
    """lots: the set of lots and their points, released flag and remaining
    (exact or within bounds, see the top), and per customer the sums."""
    sums = {}
    got = set()
    for c, so, i, r, points, remaining, released in read_tsv(path, 7):
        key = (c, so, i, r)
        points, remaining, released = int(points), int(remaining), released == "t"
        want = model.lots.get(key)
        if want is None:
            fail(f"lot {key} ({points} points) is not one the program credits")
        if key in got:
            fail(f"two lots for {key}")
        got.add(key)
        if (points, released) != (want.points, want.released):
            fail(f"lot {key}: {points} points released={released}, "
                 f"want {want.points} released={want.released}")
        if want.exact and remaining != want.remaining:
            fail(f"lot {key}: remaining {remaining}, want {want.remaining}")
        if not 0 <= remaining <= points:
            fail(f"lot {key}: remaining {remaining} of {points}")
        s = sums.setdefault(c, [0, 0])
        s[0 if released else 1] += remaining
    missing = set(model.lots) - got
    if missing:
        k = sorted(missing)[0]
        fail(f"{len(missing)} expected lots missing, e.g. {k}: {model.lots[k].points} points")
    for c in set(sums) | set(balances):
        available, pending = balances.get(c, (0, 0))
        want = [max(available, 0), pending]
        if sums.get(c, [0, 0]) != want:
            fail(f"customer {c}: lots remaining released/unreleased {sums.get(c)}, want {want}")
    exact = sum(1 for lot in model.lots.values() if lot.exact)
    print(f"expect.py: {len(got)} lots, {exact} with the exact remaining, "
          f"{len(got) - exact} (of {model.undetermined_customers} customers whose "
          "credits and debits on different topics may interleave either way) within bounds",
          file=sys.stderr)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--ledger", required=True)
    args.add_argument("--limits", required=True)
    args.add_argument("--budget", required=True)
    args.add_argument("--codes", required=True)
    args.add_argument("--lots")
    args.add_argument("--code-uses")
    args.add_argument("--budget-crossed", action="store_true")
    opts = args.parse_args()

    events = parse(sys.stdin)
    ledger = read_tsv(opts.ledger, 7)

    # The budget rule's credits the worker let through (on order.paid
    # events; its reversal lines are checked with the others below).
    firings = Model(events, None).budget_firings
    budget_got = {}
    for c, so, i, t, r, da, dp in ledger:
        key = (c, so, i)
        if r != BUDGET_RULE or t != "order.paid":
            continue
        da, dp = int(da), int(dp)
        if key in budget_got:
            fail(f"{BUDGET_RULE} credited {key} twice")
        if firings.get(key) != da or dp != 0:
            fail(f"{BUDGET_RULE} credited {key} {da}/{dp}, want {firings.get(key)}/0")
        budget_got[key] = da
    model = Model(events, budget_got)

    # The ledger: every line expected (earnings, the budget's chosen credits,
    # reversals), with its event's type, and none missing.
    postings = dict(model.postings)
    for c, so, i, t, r, da, dp in ledger:
        key = (c, so, i)
        if model.types.get(key) != t:
            fail(f"ledger line of {key} has type {t!r}, want {model.types.get(key)!r}")
        want = postings.pop(key + (r,), None)
        if want != (int(da), int(dp)):
            fail(f"ledger line {key} rule {r!r}: {da}/{dp}, want {want}")
    if postings:
        k, v = next(iter(postings.items()))
        fail(f"{len(postings)} expected ledger lines missing, e.g. {k}: {v}")
    reversals = [k for k in model.postings if model.types[k[:3]] in REFUND_TYPES]
    print(f"expect.py: {model.refunds_applied} refunds applied "
          f"({model.refunds_noop} of fully refunded orders, "
          f"{sum(map(len, model.held.values()))} held, {model.duplicate_orders} "
          f"order.paid of an order already paid), {len(reversals)} reversal lines",
          file=sys.stderr)
    if model.undetermined:
        k, cost, least, most = model.undetermined[0]
        fail(f"{len(model.undetermined)} redemptions whose outcome depends on how the "
             f"topics interleave, e.g. {k}: cost {cost}, available between {least} and {most}")
    unknown = sum(1 for r in model.rejected.values() if r == "unknown_reward")
    print(f"expect.py: {model.adjusts} adjustments, {len(model.reward_codes)} redemptions "
          f"completed, {unknown} rejected as unknown_reward and "
          f"{len(model.rejected) - unknown} as insufficient_points, "
          f"{model.requests_repeated} requests repeating an id", file=sys.stderr)

    # The budget: the credits sum to the stored spent (reversals give
    # nothing back), within the cap, and every firing left out would have
    # crossed it whatever came before it.
    spent = 0
    for rule, value in read_tsv(opts.budget, 2):
        if rule != BUDGET_RULE:
            fail(f"rule_budgets holds rule {rule!r}")
        spent = int(value)
    credited = sum(budget_got.values())
    if credited != spent:
        fail(f"{BUDGET_RULE}: ledger credits {credited}, rule_budgets.spent {spent}")
    if spent > BUDGET_CAP:
        fail(f"{BUDGET_RULE}: spent {spent} exceeds the budget {BUDGET_CAP}")
    left_out = {k: v for k, v in firings.items() if k not in budget_got}
    fits = [k for k, v in left_out.items() if spent + v <= BUDGET_CAP]
    if fits:
        fail(f"{BUDGET_RULE}: {len(fits)} firings left out though they fit, e.g. "
             f"{fits[0]} for {left_out[fits[0]]} with {spent} of {BUDGET_CAP} spent")
    if opts.budget_crossed and not left_out:
        fail(f"{BUDGET_RULE}: every firing fitted ({spent} of {BUDGET_CAP}); "
             "the test needs traffic that crosses the budget")
    print(f"expect.py: {BUDGET_RULE}: {len(budget_got)} of {len(firings)} "
          f"firings credited, {spent} of {BUDGET_CAP} spent", file=sys.stderr)

    # Limit counts: one row per customer and Istanbul day with a review
    # (refunds give nothing back).
    got_limits = {}
    for c, r, period, count in read_tsv(opts.limits, 4):
        got_limits[(c, r, period)] = int(count)
    if got_limits != model.limits:
        diff = sorted(set(got_limits.items()) ^ set(model.limits.items()))
        fail(f"rule_limits differ from the expected counts, e.g. {diff[:4]}")

    # Codes: one gift card per qualifying order, valid 90 days from the
    # order's time, voided once the order was refunded; one code per
    # completed redemption, rule_id reward:<id>, with the reward's terms,
    # valid its days from the request's time. Each unique, 12 characters of
    # the alphabet and, when the test's secret is known, the one drawn for
    # the event and rule under that secret.
    secret = os.environ.get("LOYALTY_CODES_SECRET", "").encode()
    codes = set()
    got_gifts = {}
    gift_codes = {}
    got_rewards = {}
    for c, code, kind, amount, percent, min_order, until, so, i, r, status in read_tsv(opts.codes, 11):
        key = (c, so, i)
        if len(code) != CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
            fail(f"code {code!r} of {key} is not {CODE_LENGTH} characters of the alphabet")
        if secret and all(code != derive_code(secret, so, i, r, n) for n in range(CODE_DRAWS_MAX + 1)):
            fail(f"code {code!r} of {key} is not one the secret draws for it")
        if code in codes:
            fail(f"code {code!r} issued twice")
        codes.add(code)
        if key in got_gifts or key in got_rewards:
            fail(f"two codes for {key}")
        if r.startswith("reward:"):
            got_rewards[key] = (r, kind, int(amount), int(percent), int(min_order), until, status)
            continue
        want_status = "voided" if key in model.voided else "issued"
        if (r, kind, int(amount), int(percent), int(min_order), status) != \
                (GIFT_RULE, "gift_card", GIFT_AMOUNT, 0, 0, want_status):
            fail(f"code {code!r} of {key}: {r} {kind} {amount} {percent} {min_order} {status}"
                 f" (want status {want_status})")
        got_gifts[key] = until
        gift_codes[key] = code
    if got_gifts != model.gifts:
        diff = sorted(set(got_gifts.items()) ^ set(model.gifts.items()))
        fail(f"codes differ from the expected gift cards ({len(got_gifts)} rows, "
             f"{len(model.gifts)} qualifying orders), e.g. {diff[:4]}")
    if got_rewards != model.reward_codes:
        diff = sorted(set(got_rewards.items()) ^ set(model.reward_codes.items()))
        fail(f"codes differ from the expected rewards ({len(got_rewards)} rows, "
             f"{len(model.reward_codes)} completed redemptions), e.g. {diff[:4]}")
    print(f"expect.py: {len(got_gifts)} gift cards, {len(model.voided)} voided by refunds, "
          f"{len(got_rewards)} reward codes; "
          f"review-daily fired {sum(model.limits.values())} times in {len(model.limits)} "
          f"customer-days, {model.limited} times refused by its limit", file=sys.stderr)

    # code_uses: no code is used in the sample traffic; each voided gift
    # card is one 'voided_by_refund' row under the refund that voided it.
    if opts.code_uses:
        want_uses = sorted((k[0], gift_codes[k], v[1], v[2], "voided_by_refund")
                           for k, v in model.voided.items())
        got_uses = sorted(tuple(row) for row in read_tsv(opts.code_uses, 5))
        if got_uses != want_uses:
            diff = sorted(set(got_uses) ^ set(want_uses))
            fail(f"code_uses: {len(got_uses)} rows, want {len(want_uses)}, "
                 f"differing e.g. {diff[:4]}")

    balances = model.balances()
    if opts.lots:
        check_lots(model, opts.lots, balances)
    for customer in sorted(balances):
        available, pending = balances[customer]
        if available or pending:
            print(f"{customer}\t{available}\t{pending}")


def selftest():
    """Hand-computed examples of docs/lifecycle.md on the test program."""
    def ev(customer, eid, kind, time, **data):
        return json.dumps({"specversion": "1.0", "id": eid, "source": "urn:selftest",
                           "type": kind, "time": time,
                           "data": dict(customer_id=customer, **data)})

    def paid(customer, eid, time, order_id, items):
        total = sum(i["quantity"] * i["unit_price"] for i in items)
        return ev(customer, eid, "order.paid", time, order_id=order_id, total=total,
                  currency="TRY", items=items)

    home = [{"sku": "s1", "category": "home", "quantity": 1, "unit_price": 120000}]
    big = [{"sku": "s2", "category": "home", "quantity": 2, "unit_price": 100000},
           {"sku": "s3", "category": "books", "quantity": 2, "unit_price": 100000}]
    T0 = "2026-11-03T"  # outside outdoor-day
    lines = [
        # a: T = 120000, base-earn 1200 pending, order-bonus 25; refunded
        # 30000, then 90000, then cancelled (already fully refunded).
        paid("a", "a1", T0 + "10:00:00Z", "oa", home),
        ev("a", "a2", "order.refunded", T0 + "11:00:00Z", order_id="oa", amount=30000),
        ev("a", "a3", "order.refunded", T0 + "12:00:00Z", order_id="oa", amount=90000),
        ev("a", "a4", "order.cancelled", T0 + "13:00:00Z", order_id="oa"),
        # b: the same order after a review (review-daily 15, review 50); the
        # second refund has no amount (the remaining 90000).
        ev("b", "b0", "review.submitted", T0 + "09:00:00Z", review_id="r", product_id="p",
           rating=5, verified_purchase=False, has_photo=False, text_length=1),
        paid("b", "b1", T0 + "10:00:00Z", "ob", home),
        ev("b", "b2", "order.refunded", T0 + "11:00:00Z", order_id="ob", amount=30000),
        ev("b", "b3", "order.refunded", T0 + "12:00:00Z", order_id="ob"),
        paid("b", "b4", T0 + "14:00:00Z", "ob2", home),
        # c: a refund of 60000 before its order of 400000 (held, applied
        # right after it), the order.paid again (ignored), then cancelled.
        ev("c", "c0", "order.refunded", T0 + "10:00:00Z", order_id="oc", amount=60000),
        paid("c", "c1", T0 + "11:00:00Z", "oc", big),
        paid("c", "c2", T0 + "12:00:00Z", "oc", big),
        ev("c", "c3", "order.cancelled", T0 + "13:00:00Z", order_id="oc"),
        # d: a refund of an order never paid: held, nothing changes.
        ev("d", "d0", "order.refunded", T0 + "10:00:00Z", order_id="od", amount=5),
    ]
    m = Model(parse(lines), {})
    S = "urn:selftest"
    want_postings = {
        ("a", S, "a1", "base-earn"): (0, 1200),
        ("a", S, "a1", "order-bonus"): (25, 0),
        # floor(1200*30000/120000) - 0 = 300; floor(25*30000/120000) - 0 = 6
        ("a", S, "a2", "base-earn"): (0, -300),
        ("a", S, "a2", "order-bonus"): (-6, 0),
        # floor(1200*120000/120000) - 300 = 900; 25 - 6 = 19
        ("a", S, "a3", "base-earn"): (0, -900),
        ("a", S, "a3", "order-bonus"): (-19, 0),
        ("b", S, "b0", "review-daily"): (15, 0),
        ("b", S, "b0", "review"): (50, 0),
        ("b", S, "b1", "base-earn"): (0, 1200),
        ("b", S, "b1", "order-bonus"): (25, 0),
        ("b", S, "b2", "base-earn"): (0, -300),
        ("b", S, "b2", "order-bonus"): (-6, 0),
        ("b", S, "b3", "base-earn"): (0, -900),
        ("b", S, "b3", "order-bonus"): (-19, 0),
        ("b", S, "b4", "base-earn"): (0, 1200),
        ("b", S, "b4", "order-bonus"): (25, 0),
        ("c", S, "c1", "base-earn"): (0, 4000),
        ("c", S, "c1", "order-bonus"): (25, 0),
        ("c", S, "c1", "big-basket"): (100, 0),
        # held refund 60000 of 400000: floor(4000*0.15) = 600,
        # floor(25*0.15) = 3, floor(100*0.15) = 15
        ("c", S, "c0", "base-earn"): (0, -600),
        ("c", S, "c0", "order-bonus"): (-3, 0),
        ("c", S, "c0", "big-basket"): (-15, 0),
        # cancelled: 4000 - 600, 25 - 3, 100 - 15
        ("c", S, "c3", "base-earn"): (0, -3400),
        ("c", S, "c3", "order-bonus"): (-22, 0),
        ("c", S, "c3", "big-basket"): (-85, 0),
    }
    assert m.postings == want_postings, sorted(set(m.postings.items()) ^ set(want_postings.items()))
    # (points, remaining, released, exact)
    want_lots = {
        ("a", S, "a1", "base-earn"): (1200, 0, False, True),
        ("a", S, "a1", "order-bonus"): (25, 0, True, True),
        # b's debits 6 then 19 take the oldest lots: review-daily 15 -> 9 -> 0,
        # then review 50 -> 40; order-bonus keeps 25. Had the review been
        # applied after the refunds (another topic), order-bonus would be 0
        # and the review lots whole: not exact.
        ("b", S, "b0", "review-daily"): (15, 0, True, False),
        ("b", S, "b0", "review"): (50, 40, True, False),
        ("b", S, "b1", "base-earn"): (1200, 0, False, True),
        ("b", S, "b1", "order-bonus"): (25, 25, True, False),
        # credited after b's last debit: whole in every interleaving
        ("b", S, "b4", "base-earn"): (1200, 1200, False, True),
        ("b", S, "b4", "order-bonus"): (25, 25, True, True),
        # c: 3 and 15 from order-bonus (same time, credited first): 25 -> 7;
        # then 22: order-bonus 7 -> 0, big-basket 100 -> 85; then 85 -> 0.
        ("c", S, "c1", "base-earn"): (4000, 0, False, True),
        ("c", S, "c1", "order-bonus"): (25, 0, True, True),
        ("c", S, "c1", "big-basket"): (100, 0, True, True),
    }
    got_lots = {k: (v.points, v.remaining, v.released, v.exact) for k, v in m.lots.items()}
    assert got_lots == want_lots, sorted(set(got_lots.items()) ^ set(want_lots.items()))
    assert m.balances() == {"a": (0, 0), "b": (90, 1200), "c": (0, 0)}, m.balances()
    assert m.gifts == {("c", S, "c1"): "2027-02-01T11:00:00Z"}, m.gifts
    assert m.voided == {("c", S, "c1"): ("c", S, "c0")}, m.voided
    assert m.duplicate_orders == 1 and m.refunds_noop == 1 and m.refunds_applied == 6
    assert list(m.held) == [("d", "od")], m.held
    assert m.types[("a", S, "a4")] == "order.cancelled"

    # Requests. e: a review (review-daily 15, review 50), adjust +1000,
    # redeem tl5 (500: the requests before it cover it whatever the review
    # does), that request again (nothing), the retired reward (rejected),
    # an adjust under the rejected request's id (nothing), gift50 (2500:
    # more than 1000 - 500 + 65 could ever be: rejected), then adjust +2000.
    lines = [
        ev("e", "e0", "review.submitted", T0 + "09:00:00Z", review_id="r", product_id="p",
           rating=4, verified_purchase=False, has_photo=False, text_length=1),
        ev("e", "e1", "points.adjust", T0 + "10:00:00Z", request_id="q1", points=1000,
           reason="goodwill"),
        ev("e", "e2", "points.redeem", T0 + "11:00:00Z", request_id="q2", reward="tl5"),
        ev("e", "e3", "points.redeem", T0 + "11:30:00Z", request_id="q2", reward="tl5"),
        ev("e", "e4", "points.redeem", T0 + "12:00:00Z", request_id="q3",
           reward="retired-reward"),
        ev("e", "e5", "points.adjust", T0 + "12:30:00Z", request_id="q3", points=50,
           reason="goodwill"),
        ev("e", "e6", "points.redeem", T0 + "13:00:00Z", request_id="q4", reward="gift50"),
        ev("e", "e7", "points.adjust", T0 + "14:00:00Z", request_id="q5", points=2000,
           reason="complaint"),
        # g: an order (base-earn 1200 pending, order-bonus 25), adjust +1000,
        # redeem tl5, then a refund of 30000 of 120000 (base-earn -300
        # from pending, order-bonus -6 from available).
        paid("g", "g1", T0 + "10:00:00Z", "og", home),
        ev("g", "g2", "points.adjust", T0 + "11:00:00Z", request_id="q1", points=1000,
           reason="goodwill"),
        ev("g", "g3", "points.redeem", T0 + "12:00:00Z", request_id="q2", reward="tl5"),
        ev("g", "g4", "order.refunded", T0 + "13:00:00Z", order_id="og", amount=30000),
        # h: adjust +1450 and a review (65): pct10 (1500) completes if the
        # review comes first and not otherwise.
        ev("h", "h0", "review.submitted", T0 + "09:00:00Z", review_id="r", product_id="p",
           rating=4, verified_purchase=False, has_photo=False, text_length=1),
        ev("h", "h1", "points.adjust", T0 + "10:00:00Z", request_id="q1", points=1450,
           reason="goodwill"),
        ev("h", "h2", "points.redeem", T0 + "11:00:00Z", request_id="q2", reward="pct10"),
    ]
    m = Model(parse(lines), {})
    want_postings = {
        ("e", S, "e0", "review-daily"): (15, 0),
        ("e", S, "e0", "review"): (50, 0),
        ("e", S, "e1", ""): (1000, 0),
        ("e", S, "e2", ""): (-500, 0),
        ("e", S, "e7", ""): (2000, 0),
        ("g", S, "g1", "base-earn"): (0, 1200),
        ("g", S, "g1", "order-bonus"): (25, 0),
        ("g", S, "g2", ""): (1000, 0),
        ("g", S, "g3", ""): (-500, 0),
        ("g", S, "g4", "base-earn"): (0, -300),
        ("g", S, "g4", "order-bonus"): (-6, 0),
        ("h", S, "h0", "review-daily"): (15, 0),
        ("h", S, "h0", "review"): (50, 0),
        ("h", S, "h1", ""): (1450, 0),
    }
    assert m.postings == want_postings, sorted(set(m.postings.items()) ^ set(want_postings.items()))
    want_lots = {
        # e's redeem takes 15 + 50 + 435 in time order; had the review come
        # after it, the adjust would keep 500 and the review lots all:
        # not exact. The +2000 comes after the requests' last debit and
        # they never owe alone: whole in every interleaving.
        ("e", S, "e0", "review-daily"): (15, 0, True, False),
        ("e", S, "e0", "review"): (50, 0, True, False),
        ("e", S, "e1", ""): (1000, 565, True, False),
        ("e", S, "e7", ""): (2000, 2000, True, True),
        # g debits on two partitions: the redeem takes order-bonus 25 and
        # 475 of the adjust, the refund 6 more of it; not exact but the
        # pending lot, which only the refund takes from.
        ("g", S, "g1", "base-earn"): (1200, 900, False, True),
        ("g", S, "g1", "order-bonus"): (25, 0, True, False),
        ("g", S, "g2", ""): (1000, 519, True, False),
        ("h", S, "h0", "review-daily"): (15, 15, True, True),
        ("h", S, "h0", "review"): (50, 50, True, True),
        ("h", S, "h1", ""): (1450, 1450, True, True),
    }
    got_lots = {k: (v.points, v.remaining, v.released, v.exact) for k, v in m.lots.items()}
    assert got_lots == want_lots, sorted(set(got_lots.items()) ^ set(want_lots.items()))
    assert m.balances() == {"e": (2565, 0), "g": (519, 900), "h": (1515, 0)}, m.balances()
    assert m.reward_codes == {
        ("e", S, "e2"): ("reward:tl5", "discount", 500, 0, 5000, "2026-11-17T11:00:00Z", "issued"),
        ("g", S, "g3"): ("reward:tl5", "discount", 500, 0, 5000, "2026-11-17T12:00:00Z", "issued"),
    }, m.reward_codes
    assert m.rejected == {("e", S, "e4"): "unknown_reward",
                          ("e", S, "e6"): "insufficient_points"}, m.rejected
    assert m.undetermined == [(("h", S, "h2"), 1500, 1450, 1515)], m.undetermined
    assert (m.adjusts, m.requests_repeated) == (4, 2), (m.adjusts, m.requests_repeated)
    assert m.types[("e", S, "e3")] == "points.redeem"

    # The wallet alone: a debt is paid by the next credit, whose lot keeps
    # the rest; debits take the oldest lots first.
    w = Wallet()
    w.credit("2026-11-03T10:00:00Z", "x", 10)
    w.debit(25)
    assert (w.remaining(), w.debt, w.owed) == ({"x": 0}, 15, True)
    w.credit("2026-11-03T11:00:00Z", "y", 40)
    assert (w.remaining(), w.debt) == ({"x": 0, "y": 25}, 0)
    w.credit("2026-11-03T09:00:00Z", "z", 5)  # applied late, available earlier
    w.debit(7)
    assert (w.remaining(), w.debt) == ({"x": 0, "y": 23, "z": 0}, 0)
    print("expect.py: selftest ok", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        selftest()
    else:
        main()
