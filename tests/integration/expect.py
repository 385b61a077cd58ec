"""Computes the balances tests/integration/program.yaml gives, from the raw
input messages (one JSON CloudEvent per line on stdin), without loyaltyd's
code: a second implementation to compare PostgreSQL against.

Prints "customer<TAB>available<TAB>pending" for every non-zero balance,
sorted. Malformed lines are skipped (they go to the DLQ, earning nothing).
"""
import json
import sys

# outdoor-day is active on 1 November 2026 in Europe/Istanbul (UTC+3).
OUTDOOR_FROM = "2026-10-31T21:00:00Z"
OUTDOOR_UNTIL = "2026-11-01T21:00:00Z"

seen = set()
balances = {}
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
    # All times here are whole-second UTC "YYYY-MM-DDTHH:MM:SSZ" strings,
    # so they compare as text.
    assert len(time) == 20 and time.endswith("Z"), time
    available, pending = balances.get(customer, (0, 0))
    if kind == "order.paid":
        items = data["items"]
        pending += data["total"] // 100                      # base-earn
        available += 25                                      # order-bonus
        if data["total"] >= 100000 and sum(1 for i in items if i["quantity"] >= 2) >= 2:
            available += 100                                 # big-basket
        if OUTDOOR_FROM <= time < OUTDOOR_UNTIL:             # outdoor-day
            outdoor = sum(i["unit_price"] * i["quantity"] for i in items if i["category"] == "outdoor")
            available += outdoor // 1000 * 3
    elif kind == "review.submitted":
        if data["verified_purchase"] and data["has_photo"]:
            available += 80                                  # photo-review, stop
        else:
            available += 50                                  # review
    elif kind == "social.interaction":
        if data["platform"] in ("instagram", "tiktok") or data["action"] == "ugc":
            available += 10
    balances[customer] = (available, pending)

for customer in sorted(balances):
    available, pending = balances[customer]
    if available or pending:
        print(f"{customer}\t{available}\t{pending}")
