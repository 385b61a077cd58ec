#!/usr/bin/env python3
"""bench/report.py: the report of a `make bench` run (bench/run.sh).

Reads the figures the stages left in the work directory (backlog.json,
backlog-kept.json,
batch-<n>.json, ceiling.json, latency.json, loadgen-*.json), adds the
machine's facts (cores, memory, PostgreSQL and its durability settings,
Kafka, librdkafka, the git commit), writes <results>/<date>.json, prints
a table with each goal beside its figure and, with --docs, puts the same
table between the bench markers of docs/performance.md. Leaves the chart's
data files (bench/chart.gp) in the work directory. Goals are reported,
never asserted: the exit status says only whether the report was written.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"

# (key, what, goal text, test on the figure)
GOALS = {
    "throughput": ("≥ 50,000 events/s", lambda v: v >= 50000),
    "of_ceiling": ("≥ 60% of the ceiling", lambda v: v >= 60.0),
    "rss": ("≤ 64 MiB", lambda v: v <= 64.0),
    "p99": ("p99 ≤ 100 ms", lambda v: v <= 100),
    "speedup": ("≥ 20×", lambda v: v >= 20.0),
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(args):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
    pg = lambda q: run(["psql", args.pg, "-X", "-A", "-t", "-c", q])
    kafka = "unknown"
    pom = os.path.join(args.source, "deploy/local/pom.xml")
    with open(pom) as f:
        for line in f:
            if "<kafka.version>" in line:
                kafka = line.split("<kafka.version>")[1].split("<")[0]
                break
    git = lambda *a: run(["git", "-C", args.source, *a])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": mem_kib // 1024,
        "kernel": os.uname().release,
        "load_average_at_start": args.load,
        "broker_partitions_at_start": args.broker_partitions,
        "postgresql": pg("SHOW server_version"),
        "postgresql_fsync": pg("SHOW fsync"),
        "postgresql_synchronous_commit": pg("SHOW synchronous_commit"),
        "postgresql_shared_buffers": pg("SHOW shared_buffers"),
        "kafka": kafka + " (deploy/local, one KRaft node)",
        "librdkafka": run(["pkg-config", "--modversion", "rdkafka"]),
        "git_commit": git("rev-parse", "HEAD"),
        "git_uncommitted_changes": git("status", "--porcelain", "--untracked-files=no") != "",
    }


def num(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def verdict(key, value):
    if value is None:
        return "not measured"
    return "met" if GOALS[key][1](value) else "missed"


def figures(work, batches):
    backlog = load(os.path.join(work, "backlog.json"))
    kept = load(os.path.join(work, "backlog-kept.json"))
    ceiling = load(os.path.join(work, "ceiling.json"))
    ceiling_six = load(os.path.join(work, "ceiling_six.json"))
    latency = load(os.path.join(work, "latency.json"))
    by_batch = []
    for b in batches:
        r = load(os.path.join(work, f"batch-{b}.json"))
        if r:
            by_batch.append(r)
    floor = next((r for r in by_batch if r["batch"] == 1), None)
    out = {
        "backlog": backlog,
        "backlog_outbox_kept": kept,
        "ceiling": ceiling,
        "ceiling_six_tables": ceiling_six,
        "batch_sizes": by_batch,
        "latency": latency,
        "latency_worker": load(os.path.join(work, "latency-worker.json")),
        "loadgen_backlog": load(os.path.join(work, "loadgen-backlog.json")),
        "loadgen_latency": load(os.path.join(work, "loadgen-rate.json")),
        "derived": {},
    }
    d = out["derived"]
    if backlog and ceiling and ceiling["events_per_s"] > 0:
        d["percent_of_ceiling"] = round(100.0 * backlog["events_per_s"] / ceiling["events_per_s"], 1)
    if kept and ceiling and ceiling["events_per_s"] > 0:
        d["outbox_kept_percent_of_ceiling"] = round(
            100.0 * kept["events_per_s"] / ceiling["events_per_s"], 1)
    if backlog:
        d["peak_rss_mib"] = round(backlog["peak_rss_kib"] / 1024.0, 1)
    if backlog and floor and floor["events_per_s"] > 0:
        d["batch_1000_over_batch_1"] = round(backlog["events_per_s"] / floor["events_per_s"], 1)
    return out


def table(res, scale_note):
    f = res
    b, c, l, d = f["backlog"], f["ceiling"], f["latency"], f["derived"]
    floor = next((r for r in f["batch_sizes"] if r["batch"] == 1), None)
    rows = []
    rows.append(("Backlog drained by one loyaltyd (batch 1,000), events/s",
                 num(b and b["events_per_s"]), GOALS["throughput"][0],
                 verdict("throughput", b and b["events_per_s"])))
    rows.append(("Ceiling: the same rows and transactions by COPY, events/s",
                 num(c and c["events_per_s"]), "—", ""))
    six = f["ceiling_six_tables"]
    if six:
        rows.append(("Ceiling of the ledger, lots, balances, processed events, offsets "
                     "and outbox alone, events/s", num(six["events_per_s"]), "—", ""))
    rows.append(("loyaltyd as a share of the ceiling",
                 num(d.get("percent_of_ceiling"), 1) + ("%" if "percent_of_ceiling" in d else ""),
                 GOALS["of_ceiling"][0], verdict("of_ceiling", d.get("percent_of_ceiling"))))
    k = f["backlog_outbox_kept"]
    if k:
        kp = d.get("outbox_kept_percent_of_ceiling")
        rows.append(("The same drain keeping the published outbox rows (the rows the "
                     "ceiling copies), events/s", num(k["events_per_s"])
                     + (f" ({num(kp, 1)}% of the ceiling)" if kp is not None else ""), "—", ""))
    rows.append(("CPU seconds per 1,000 events (loyaltyd)",
                 num(b and b["cpu_s_per_1000"], 3), "—", ""))
    rows.append(("Peak RSS draining the backlog",
                 num(d.get("peak_rss_mib"), 1) + (" MiB" if "peak_rss_mib" in d else ""),
                 GOALS["rss"][0], verdict("rss", d.get("peak_rss_mib"))))
    lat = "—"
    if l:
        lat = f"{l['p50_ms']:,} / {l['p99_ms']:,} / {l['p999_ms']:,} / {l['max_ms']:,} ms"
    lw = f.get("latency_worker") or {}
    shop = {"known": "a shop in service (the backlog's)",
            "new": "a new shop"}.get(lw.get("shop"), "")
    warm = f", after {lw['warmup_s']} s of warm-up" if lw.get("warmup_s") else ""
    rows.append((f"Latency p50 / p99 / p99.9 / max at {res['scale']['rate']:,} events/s"
                 + (f", {shop}{warm}" if shop else ""),
                 lat, GOALS["p99"][0], verdict("p99", l and l["p99_ms"])))
    rows.append(("Floor: batch.max_events 1, events/s", num(floor and floor["events_per_s"]),
                 "—", ""))
    sp = d.get("batch_1000_over_batch_1")
    rows.append(("Batch 1,000 over batch 1", (num(sp, 1) + "×") if sp else "—",
                 GOALS["speedup"][0], verdict("speedup", sp)))
    lines = [scale_note, "",
             "| Figure | Measured | Goal | |", "|---|---:|---|---|"]
    lines += [f"| {a} | {m} | {g} | {v} |" for a, m, g, v in rows]
    lines += ["", "| batch.max_events | events applied | transactions | events/s | dead letters |",
              "|---:|---:|---:|---:|---:|"]
    for r in f["batch_sizes"]:
        lines.append(f"| {r['batch']:,} | {r['events']:,} | {r['batches']:,} | "
                     f"{num(r['events_per_s'])} | {r['dead_letters']} |")
    m = f["machine"]
    lines += ["", f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_mib']:,} MiB; "
              f"load average at start {m['load_average_at_start']}; PostgreSQL {m['postgresql']} "
              f"(fsync {m['postgresql_fsync']}, synchronous_commit "
              f"{m['postgresql_synchronous_commit']}, shared_buffers "
              f"{m['postgresql_shared_buffers']}); Kafka {m['kafka']} "
              f"({m['broker_partitions_at_start']} partitions on the broker at start); librdkafka "
              f"{m['librdkafka']}; commit {m['git_commit'][:12]}"
              f"{' with uncommitted changes' if m['git_uncommitted_changes'] else ''}."]
    return "\n".join(lines)


def chart_data(work, res, title):
    with open(os.path.join(work, "batches.dat"), "w") as f:
        for r in sorted(res["batch_sizes"], key=lambda r: r["batch"]):
            f.write(f"{r['batch']} {r['events_per_s']}\n")
        if not res["batch_sizes"]:
            f.write("1 0\n")
    with open(os.path.join(work, "ceiling.value"), "w") as f:
        c = res["ceiling"]
        f.write(f"{c['events_per_s'] if c else 0}\n")
    cdf = os.path.join(work, "latency-cdf.txt")
    if not os.path.exists(cdf):
        with open(cdf, "w") as f:
            f.write("# not measured\n1 0\n")
    l = res["latency"]
    with open(os.path.join(work, "latency.title"), "w") as f:
        if l:
            f.write(f"Latency at {res['scale']['rate']:,} events/s: p50 {l['p50_ms']:,}, "
                    f"p99 {l['p99_ms']:,}, p99.9 {l['p999_ms']:,} ms\n")
        else:
            f.write("Latency: not measured\n")
    with open(os.path.join(work, "title.txt"), "w") as f:
        f.write(title + "\n")


def put_in_docs(path, text):
    with open(path) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"report: {path} has no {BEGIN} ... {END} block")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path + ".tmp", "w") as f:
        f.write(head + BEGIN + "\n" + text + "\n" + END + tail)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--pg", required=True)
    p.add_argument("--load", default="")
    p.add_argument("--broker-partitions", default="unknown")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--rate", type=int, required=True)
    p.add_argument("--seconds", type=int, required=True)
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--batches", required=True)
    p.add_argument("--full", required=True, help="events rate seconds customers of a full run")
    p.add_argument("--docs")
    args = p.parse_args()

    batches = [int(b) for b in args.batches.split()]
    res = {"date": args.date}
    res["scale"] = {"events": args.events, "rate": args.rate, "seconds": args.seconds,
                    "customers": args.customers, "seed": args.seed,
                    "partitions": args.partitions, "batch_sizes": batches}
    full = [int(x) for x in args.full.split()]
    res["scale"]["full"] = (args.events >= full[0] and args.rate == full[1]
                            and args.seconds >= full[2] and args.customers == full[3])
    res.update(figures(args.work, batches))
    res["machine"] = machine(args)
    res["goals"] = {
        "throughput_events_per_s": GOALS["throughput"][0],
        "percent_of_ceiling": GOALS["of_ceiling"][0],
        "peak_rss_mib": GOALS["rss"][0],
        "latency_p99_ms": GOALS["p99"][0],
        "batch_1000_over_batch_1": GOALS["speedup"][0],
    }

    sizes = ", ".join(f"{r['batch']:,}: {r['events']:,}" for r in res["batch_sizes"])
    scale = (f"{args.events:,} events backlog over {args.customers:,} customers, "
             f"{args.partitions} partitions; batch sizes (events applied) {sizes or '—'}; "
             f"latency at {args.rate:,} events/s for {args.seconds} s")
    if res["scale"]["full"]:
        note = f"Run of {args.date}, full size: {scale}."
    else:
        note = (f"**Reduced-scale trial** of {args.date} ({scale}), which proves the harness "
                f"runs; the goals are stated for the full size ({full[0]:,} events, "
                f"{full[1]:,} events/s for {full[2]} s): these figures are to be replaced by "
                f"the next full `make bench`.")
    text = table(res, note)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, args.date + ".json"), "w") as f:
        json.dump(res, f, indent=2, ensure_ascii=False)
        f.write("\n")
    title = (f"{args.date}, {'full size' if res['scale']['full'] else 'reduced-scale trial'}: "
             f"{args.events:,} events, {res['machine']['nproc']} cores")
    chart_data(args.work, res, title)
    print(text)
    if args.docs:
        put_in_docs(args.docs, text + f"\n\nResults file: `bench/results/{args.date}.json`.")


if __name__ == "__main__":
    main()
