"""Writes the poison test's messages: 50 inputs that must be rejected, each
keyed "poison-NN" with the dlq.error.code expected for it.

  poison.py OUT_DIR CUSTOMER_PREFIX
writes OUT_DIR/poison.bin (records "key\\x1fvalue\\x1e" for kcat -K '\\x1f'
-D '\\x1e') and OUT_DIR/expected.json ({key: code}).
"""
import json
import os
import sys

out_dir = sys.argv[1]
records = []  # (key, value bytes, code)


def event(i, kind="order.paid", **over):
    ev = {
        "specversion": "1.0",
        "id": f"poison-{i}",
        "source": "urn:test:poison",
        "type": kind,
        "time": "2026-11-02T10:00:00Z",
        "data": {
            "order_id": f"po-{i}",
            "customer_id": f"p{i:03d}",
            "total": 12345,
            "currency": "TRY",
            "items": [{"sku": "a", "category": "home", "quantity": 1, "unit_price": 12345}],
        },
    }
    for k, v in over.items():
        if k == "data":
            ev["data"].update(v)
        elif v is None:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


def add(code, value):
    i = len(records)
    if isinstance(value, dict):
        value = json.dumps(value).encode()
    records.append((f"poison-{i:02d}", value, code))


for i in range(5):
    add("invalid_json", b'{"specversion":"1.0", "id": "broken-' + str(i).encode() + b'"')
for i in range(5):
    add("invalid_utf8", json.dumps(event(100 + i)).encode().replace(b'"home"', b'"h\xffme"'))
add("message_too_large", json.dumps(event(110, data={"note": "x" * 4000, "pad": ["y" * 4000] * 270})).encode())
for i in range(5):
    ev = event(120 + i)
    del ev["data"]["customer_id"]
    add("missing_field", ev)
for i in range(3):
    add("missing_field", event(130 + i, id=None))
for i in range(5):
    add("wrong_type", event(140 + i, data={"total": "abc"}))
for i in range(5):
    add("invalid_value", event(150 + i, kind="review.submitted", data={
        "review_id": f"r{i}", "product_id": "p", "rating": 9,
        "verified_purchase": True, "has_photo": False, "text_length": 3}))
for i in range(2):
    add("invalid_value", event(160 + i, time="yesterday"))
for i in range(3):
    add("string_too_long", event(170 + i, data={"items": [{"sku": "s" * 5000, "category": "home", "quantity": 1, "unit_price": 1}]}))
for i in range(3):
    add("array_too_long", event(180 + i, data={"items": [{"sku": "a", "category": "home", "quantity": 1, "unit_price": 1}] * 1001}))
for i in range(5):
    add("unknown_type", event(190 + i, kind="order.shipped"))
for i in range(3):
    add("unsupported_specversion", event(200 + i, specversion="0.3"))
# Binary mode, sent separately by the test with ce_* headers.
assert len(records) == 45, len(records)

with open(os.path.join(out_dir, "poison.bin"), "wb") as f:
    for key, value, _ in records:
        assert b"\x1e" not in value and b"\x1f" not in value
        f.write(key.encode() + b"\x1f" + value + b"\x1e")
with open(os.path.join(out_dir, "expected.json"), "w") as f:
    json.dump({key: code for key, _, code in records}, f)
