"""Computes the balances tests/integration/program.yaml gives, from the raw
input messages (one JSON CloudEvent per line on stdin), without loyaltyd's
code: a second implementation to compare PostgreSQL against.

Prints "customer<TAB>available<TAB>pending" for every non-zero balance,
sorted. Malformed lines are skipped (they go to the DLQ, earning nothing).
"""
import json
import sys

seen = set()
balances = {}
for line in sys.stdin:
    try:
        event = json.loads(line)
        data = event["data"]
        customer = data["customer_id"]
        key = (customer, event["source"], event["id"])
        kind = event["type"]
    except (ValueError, KeyError, TypeError):
        continue
    if key in seen:
        continue
    seen.add(key)
    available, pending = balances.get(customer, (0, 0))
    if kind == "order.paid":
        pending += data["total"] // 100        # base-earn: per 100, pending
        available += 25                         # order-bonus: fixed, not pending
    elif kind == "review.submitted":
        available += 50
    elif kind == "social.interaction":
        available += 10
    balances[customer] = (available, pending)

for customer in sorted(balances):
    available, pending = balances[customer]
    if available or pending:
        print(f"{customer}\t{available}\t{pending}")
