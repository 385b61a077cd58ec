"""What test_offers.sh and test_offers_crash.sh read back, computed
without loyaltyd's code: the offers on the offers topic named by the input
event, rule and channel that made them, and the ids the offers table holds.

  offers.py topic EVENTS DUMP   one line per offer on the topic:
                                CUSTOMER EVENT_ID RULE CHANNEL LOCALE SEND_AFTER|-
                                each customer's in topic order, customers
                                sorted; every message's envelope checked
  offers.py ids EVENTS ROWS     the offers table's rows (customer, offer_id,
                                source, event_id, event time, rule, channel,
                                tab-separated) against the ids and times the
                                input events give
  offers.py contacts EVENTS     every e-mail address and phone number the
                                input carries, one a line

EVENTS holds the input events, one JSON object a line; DUMP is a
`kcat -J` dump of the offers topic. Problems go to stdout as lines that
start with "BAD", so a comparison with the expected lines fails on them.
"""
import hashlib
import json
import sys

# offers/program.yaml: each rule that makes an offer, its template and
# channels
RULES = {
    "welcome": ("welcome-mail", ("email", "sms")),
    "order-thanks": ("thanks", ("sms", "email")),
    "big-basket": ("next-order-15", ("email",)),
    "review-thanks": ("review-gift", ("email", "sms")),
}
CE_JSON = "application/cloudevents+json; charset=UTF-8"


def offer_id(source, event_id, rule_id, channel):
    """The offer's id as docs/offers.md defines it."""
    what = f"{source}\0{event_id}\0{rule_id}/{channel}".encode()
    return "of-" + hashlib.sha256(what).hexdigest()[:32]


def load_events(path):
    events = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            e = json.loads(line)
            events[(e["source"], e["id"])] = e
    return events


def id_table(events):
    """Every offer id the input could make: id -> (event, rule, channel)."""
    table = {}
    for e in events.values():
        for rule, (_, channels) in RULES.items():
            for ch in channels:
                table[offer_id(e["source"], e["id"], rule, ch)] = (e, rule, ch)
    return table


def topic(events_path, dump_path):
    table = id_table(load_events(events_path))
    msgs = [json.loads(l) for l in open(dump_path, encoding="utf-8") if l.strip()]
    msgs.sort(key=lambda m: (m["partition"], m["offset"]))
    lines, partitions, bad = {}, {}, []
    for m in msgs:
        where = f"partition {m['partition']} offset {m['offset']}"
        try:
            p = json.loads(m["payload"])
            d = p["data"]
            e, rule, ch = table.get(p["id"], (None, None, None))
            if e is None:
                bad.append(f"BAD {where}: id {p['id']} made by no input event, rule and channel")
                continue
            cust = e["data"]["customer_id"]
            h = m.get("headers") or []
            headers = dict(zip(h[0::2], h[1::2]))
            want = {"specversion": "1.0", "source": "loyaltyd", "type": "loyalty.offer",
                    "time": e["time"], "datacontenttype": "application/json",
                    "subject": cust}
            got = {k: p.get(k) for k in want}
            if got != want:
                bad.append(f"BAD {where}: envelope {got}, want {want}")
            if (m["key"], d["customer_id"], d["offer_id"], d["channel"], d["template"]) != \
                    (cust, cust, p["id"], ch, RULES[rule][0]):
                bad.append(f"BAD {where}: key {m['key']!r}, data {d}")
            if headers.get("content-type") != CE_JSON:
                bad.append(f"BAD {where}: headers {headers}")
            if partitions.setdefault(cust, m["partition"]) != m["partition"]:
                bad.append(f"BAD {where}: {cust} in partitions {partitions[cust]} and {m['partition']}")
            lines.setdefault(cust, []).append(
                f"{cust} {e['id']} {rule} {ch} {d['locale']} {d.get('send_after', '-')}")
        except (KeyError, TypeError, ValueError) as x:
            bad.append(f"BAD {where}: {x!r} in {m.get('payload')!r}")
    for cust in sorted(lines):
        print("\n".join(lines[cust]))
    for b in bad:
        print(b)


def ids(events_path, rows_path):
    events = load_events(events_path)
    n = 0
    for line in open(rows_path, encoding="utf-8"):
        cust, oid, source, eid, time, rule, ch = line.rstrip("\n").split("\t")
        e = events.get((source, eid))
        if e is None or e["data"]["customer_id"] != cust:
            print(f"BAD offers row {oid}: no input event {source} {eid} of {cust}")
        elif oid != offer_id(source, eid, rule, ch):
            print(f"BAD offers row of {eid} {rule} {ch}: id {oid}, want {offer_id(source, eid, rule, ch)}")
        elif time != e["time"]:
            print(f"BAD offers row {oid}: event_time {time}, want {e['time']}")
        n += 1
    print(f"{n} rows")


def contacts(events_path):
    seen = set()
    for e in load_events(events_path).values():
        for k in ("email", "phone"):
            v = e["data"].get(k)
            if v and v not in seen:
                seen.add(v)
                print(v)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"topic": topic, "ids": ids, "contacts": contacts}[cmd](*args)
