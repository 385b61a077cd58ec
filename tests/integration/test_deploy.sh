#!/usr/bin/env bash
# The deployment files under deploy/ as an operator gets them, without
# servers or a container engine: every YAML and JSON file parses; every
# settings file and LOYALTY_* variable they give is accepted by loyaltyctl's
# own config loader, and every program they mount is one loyaltyd runs; the
# Dockerfile installs what `make deps` builds with and, at run time, the
# packages of every shared library the built binaries need, and its build
# commands work on what .dockerignore leaves of the context; the Compose file
# passes `docker-compose config` and wires migrate -> workers/producer; the
# kustomize base and overlay render and agree with the settings they mount
# (ports, probes, brokers, group, topics, partitions); the Grafana dashboard
# uses only the metrics loyaltyd exports (and parses as PromQL); the systemd
# units pass `systemd-analyze verify` and a hardening threshold.
#
# Tools: python3 with PyYAML, docker-compose (v1), kustomize or kubectl (else
# kustomize is built with `go install`), promtool, systemd-analyze, readelf,
# dpkg. `make deps` installs the Debian ones. What cannot run here is named
# on stderr as SKIP; a missing python3-yaml or kustomize is a failure.
set -euo pipefail

LY_SOURCE_DIR=${LY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LY_BIN_DIR=${LY_BIN_DIR:-$LY_SOURCE_DIR/build}
LOYALTYCTL=$LY_BIN_DIR/loyaltyctl
KUSTOMIZE_VERSION=v5.5.0
# auto: kustomize on PATH, then one built earlier, then kubectl's, then go install
KUSTOMIZE_FROM=${KUSTOMIZE_FROM:-auto}
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/loyaltyd

cd "$LY_SOURCE_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ly-deploy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SKIPPED=()

log() { echo "[$(date +%H:%M:%S)] deploy: $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: $*" >&2
	SKIPPED+=("$1")
}

# A python3 that has PyYAML: pyenv's may lack it where Debian's has it.
PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || fail "no python3 with PyYAML (Debian: python3-yaml; make deps installs it)"

# Metric families loyaltyd exports (docs/operations.md), with their labels.
# The dashboard, the docs and lib/metrics are checked against this list.
METRICS='
loyalty_events_consumed_total topic
loyalty_events_applied_total type
loyalty_events_rejected_total reason
loyalty_events_duplicate_total
loyalty_points_credited_total
loyalty_points_debited_total
loyalty_codes_issued_total
loyalty_offers_total channel outcome
loyalty_batch_size le
loyalty_batch_duration_seconds le
loyalty_postgres_retries_total
loyalty_offset_conflicts_total
loyalty_outbox_backlog
loyalty_outbox_publish_lag_seconds
loyalty_outbox_published_total
loyalty_outbox_pruned_total
loyalty_consumer_lag topic partition
loyalty_rebalances_total kind
loyalty_partitions_assigned
loyalty_program_info name version
loyalty_program_reloads_total result
loyalty_ready
loyalty_last_progress_timestamp_seconds
process_cpu_seconds_total
process_resident_memory_bytes
process_start_time_seconds
process_open_fds
'
export METRICS

# ---- 1. every YAML and JSON file under deploy/ parses ----
log "YAML and JSON under deploy/"
"$PY" - deploy <<'EOF' || fail "deploy/: a file does not parse"
import json, os, sys, yaml

class Strict(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a deploy file must not have any."""
def mapping(loader, node, deep=False):
    seen = set()
    for k, _ in node.value:
        if k.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(k, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", k.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)
Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                       lambda loader, node: dict(mapping(loader, node, True)))
def pairs(ps):
    seen = set()
    for k, v in ps:
        if k in seen:
            raise ValueError(f"key {k!r} given twice")
        seen.add(k)
    return dict(ps)
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        p = os.path.join(root, f)
        try:
            if f.endswith((".yaml", ".yml")):
                docs = [d for d in yaml.load_all(open(p, encoding="utf-8"), Loader=Strict) if d is not None]
                if not docs:
                    sys.exit(f"{p}: no document")
                n += 1
            elif f.endswith(".json"):
                json.load(open(p, encoding="utf-8"), object_pairs_hook=pairs)
                n += 1
        except (yaml.YAMLError, ValueError) as e:
            sys.exit(f"{p}: {e}")
if n < 15:
    sys.exit(f"only {n} YAML/JSON files under deploy/")
print(f"{n} files parse", file=sys.stderr)
EOF

# ---- helpers: loyaltyctl judges settings and programs ----
HAVE_CTL=0
if [ -x "$LOYALTYCTL" ]; then
	HAVE_CTL=1
else
	skip "loyaltyctl-checks" "$LOYALTYCTL is not built: settings files and programs not checked by loyaltyctl"
fi

# check_config NAME CONFIG ENVFILE: loyaltyctl loads CONFIG with only the
# LOYALTY_* variables of ENVFILE (VAR=VALUE lines; others are comments) set; `produce
# --stdout --count 0` loads the settings and connects to nothing.
check_config() {
	local name=$1 config=$2 envfile=$3 vars=()
	[ $HAVE_CTL = 1 ] || return 0
	[ -f "$envfile" ] && mapfile -t vars < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$envfile")
	env -i PATH="$PATH" HOME="$WORK" ${vars[@]+"${vars[@]}"} \
		"$LOYALTYCTL" --config "$config" produce --stdout --count 0 >"$WORK/out" 2>&1 ||
		fail "$name: loyaltyctl refuses the settings: $(cat "$WORK/out")"
}

# check_program NAME FILE: loads.
check_program() {
	[ $HAVE_CTL = 1 ] || return 0
	"$LOYALTYCTL" check "$2" >"$WORK/out" 2>&1 || fail "$1: program refused: $(cat "$WORK/out")"
}

if [ $HAVE_CTL = 1 ]; then
	# The checks can fail: a misspelt key and an unknown variable are refused.
	printf 'kafka:\n  brokerz: kafka:9092\n' >"$WORK/bad.yaml"
	if env -i PATH="$PATH" "$LOYALTYCTL" --config "$WORK/bad.yaml" produce --stdout --count 0 >/dev/null 2>&1; then
		fail "loyaltyctl accepted an unknown setting: the settings checks below prove nothing"
	fi
	if env -i PATH="$PATH" LOYALTY_KAFKA_BROKERZ=x "$LOYALTYCTL" produce --stdout --count 0 >/dev/null 2>&1; then
		fail "loyaltyctl accepted an unknown LOYALTY_ variable"
	fi
	check_config systemd deploy/systemd/loyalty.yaml deploy/systemd/env.example
	check_program examples/programs/skeleton.yaml examples/programs/skeleton.yaml
fi

# ---- 2. the Dockerfile ----
log "deploy/docker/Dockerfile"
# shellcheck disable=SC2016 # $(DEB_PACKAGES) is make's, not the shell's
make -s --no-print-directory -f Makefile -E 'ly-print-deb-packages: ; @echo $(DEB_PACKAGES)' \
	ly-print-deb-packages >"$WORK/deb-packages" || fail "cannot read DEB_PACKAGES from the Makefile"
: >"$WORK/needed-packages"
if [ -x "$LY_BIN_DIR/loyaltyd" ] && [ -x "$LOYALTYCTL" ] && command -v readelf >/dev/null && command -v dpkg >/dev/null; then
	# The Debian package of every shared library the built programs load.
	ldconfig -p >"$WORK/ldcache"
	for lib in $(readelf -d "$LY_BIN_DIR/loyaltyd" "$LOYALTYCTL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
		path=$(awk -v l="$lib" '$1 == l { print $NF; exit }' "$WORK/ldcache")
		[ -n "$path" ] || fail "$lib: not found by ldconfig"
		# dpkg knows a file by the path its package ships it under: /lib or
		# /usr/lib (merged /usr), the soname link or the file it points to.
		real=$(readlink -f "$path")
		pkg=""
		for cand in "$path" "/usr${path#/usr}" "${path#/usr}" "$real" "/usr${real#/usr}" "${real#/usr}"; do
			pkg=$(dpkg -S "$cand" 2>/dev/null || true)
			pkg=${pkg%%:*}
			[ -z "$pkg" ] || break
		done
		[ -n "$pkg" ] || fail "$lib ($path): no Debian package owns it"
		echo "$lib $pkg" >>"$WORK/needed-packages"
	done
else
	skip "docker-runtime-libs" "the built programs, readelf or dpkg are missing: runtime packages not compared with the libraries they load"
fi
"$PY" - deploy/docker/Dockerfile .dockerignore "$WORK/deb-packages" "$WORK/needed-packages" <<'EOF' || fail "Dockerfile"
import re, shlex, sys
path, ignore, debs, needed = sys.argv[1:5]
text = open(path).read()
# Instructions, with continuation lines joined and comments dropped.
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    if s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append((cur + s).strip())
    cur = ""
instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
errors = []
args = {}
for k, v in instr:
    if k == "ARG" and "=" in v:
        a, b = v.split("=", 1)
        args[a.strip()] = b.strip()
def subst(s):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)
stages = []
for k, v in instr:
    if k == "FROM":
        f = subst(v).split()
        stages.append({"image": f[0], "name": f[2] if len(f) > 2 and f[1].upper() == "AS" else None, "instr": []})
    elif stages:
        stages[-1]["instr"].append((k, v))
if len(stages) < 2:
    errors.append("not multi-stage")
for st in stages:
    img = st["image"]
    if not re.fullmatch(r"debian:bookworm(-slim)?", img):
        errors.append(f"stage on {img!r}: want debian:bookworm or debian:bookworm-slim")
def installs(st):
    pk = []
    for k, v in st["instr"]:
        if k != "RUN":
            continue
        for seg in v.split("&&"):
            t = shlex.split(seg)
            if "apt-get" in t and "install" in t:
                if "--no-install-recommends" not in t:
                    errors.append(f"apt-get install without --no-install-recommends: {seg.strip()}")
                pk += [x for x in t[t.index("install") + 1:] if not x.startswith("-")]
        if "apt-get update" in v and "rm -rf /var/lib/apt/lists" not in v:
            errors.append("apt lists left in a layer")
    return set(pk)
build, final = stages[0], stages[-1]
bpk, rpk = installs(build), installs(final)
deb = set(open(debs).read().split())
want = {p for p in deb if p.endswith("-dev")} | ({"build-essential", "cmake", "ninja-build", "pkg-config", "tzdata"} & deb)
if want - bpk:
    errors.append(f"build stage lacks what `make deps` builds with: {sorted(want - bpk)}")
if any(p.endswith("-dev") for p in rpk) or {"build-essential", "cmake"} & rpk:
    errors.append(f"build tools in the runtime stage: {sorted(rpk)}")
for want_rt in ("tzdata", "ca-certificates"):
    if want_rt not in rpk:
        errors.append(f"runtime stage lacks {want_rt}")
base_pkgs = {"libc6", "libgcc-s1", "zlib1g"}   # in every Debian image
for line in open(needed).read().splitlines():
    lib, pkg = line.split()
    if pkg not in rpk | base_pkgs:
        errors.append(f"the programs load {lib} (package {pkg}), which the runtime stage does not install")
build_cmds = " ".join(v for k, v in build["instr"] if k == "RUN")
for w in ("-DLY_INTEGRATION=OFF", "-DCMAKE_BUILD_TYPE=Release", "loyaltyd", "loyaltyctl"):
    if w not in build_cmds:
        errors.append(f"build stage: {w} not in its commands")
fk = dict()
for k, v in final["instr"]:
    fk.setdefault(k, []).append(v)
if not any(v.startswith("--from=") for v in fk.get("COPY", [])):
    errors.append("runtime stage copies nothing from the build stage")
user = (fk.get("USER") or ["root"])[-1].split(":")[0]
if user != "10001":
    errors.append(f"USER {user}: want the numeric non-root uid 10001")
if "10001" not in " ".join(fk.get("RUN", [])):
    errors.append("no user with uid 10001 is created")
if "9464" not in " ".join(fk.get("EXPOSE", [])):
    errors.append("EXPOSE 9464 missing")
ep = fk.get("ENTRYPOINT", [""])[-1]
if not ep.startswith("[") or "loyaltyd" not in ep:
    errors.append(f"ENTRYPOINT {ep!r}: want the exec form running loyaltyd")
for v in fk.get("ENV", []) + [v for k, v in build["instr"] if k == "ENV"]:
    if "LOYALTY_" in v:
        errors.append(f"ENV {v}: a LOYALTY_ variable in the image would override every config file")
ign = [l.strip() for l in open(ignore) if l.strip() and not l.startswith("#")]
for must in (".git", "build", "build-*"):
    if must not in ign:
        errors.append(f".dockerignore: {must} not excluded")
if errors:
    sys.exit("\n".join(errors))
EOF

# The build stage without Docker: its commands (all but apt-get), on this
# Debian 12 host, in a copy of what .dockerignore leaves of the context.
log "the build stage's commands on the context .dockerignore leaves"
"$PY" - deploy/docker/Dockerfile .dockerignore . "$WORK/docker" <<'EOF' || fail "Dockerfile build stage"
import fnmatch, os, shutil, sys
dockerfile, ignore, root, out = sys.argv[1:5]
pats = [l.strip().rstrip("/") for l in open(ignore) if l.strip() and not l.lstrip().startswith("#")]
if any(p.startswith("!") for p in pats):
    sys.exit(".dockerignore: exceptions (!) are not emulated here")
def ignored(rel):
    for p in pats:
        if fnmatch.fnmatchcase(rel, p):
            return True
        if p.startswith("**/") and fnmatch.fnmatchcase(os.path.basename(rel), p[3:]):
            return True
    return False
ctx = os.path.join(out, "context")
for d, dirs, files in os.walk(root):
    rd = os.path.relpath(d, root)
    rd = "" if rd == "." else rd
    dirs[:] = [x for x in dirs if not ignored(os.path.join(rd, x))]
    os.makedirs(os.path.join(ctx, rd), exist_ok=True)
    for f in files:
        if not ignored(os.path.join(rd, f)):
            shutil.copy2(os.path.join(d, f), os.path.join(ctx, rd, f))
# The first stage's RUN commands but apt-get's, /build and /out moved under out.
lines, cur, stage = [], "", 0
for raw in open(dockerfile):
    s = raw.strip()
    if not s or s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
cmds = []
for l in lines:
    k, _, v = l.partition(" ")
    if k.upper() == "FROM":
        stage += 1
    elif stage == 1 and k.upper() == "RUN" and "apt-get" not in v:
        for path in ("/build", "/out"):
            v = v.replace(" " + path, " " + os.path.join(out, path.strip("/")))
        cmds.append(v)
if not cmds:
    sys.exit("no build commands found in the first stage")
open(os.path.join(out, "build-stage.sh"), "w").write("set -e\n" + "\n".join(cmds) + "\n")
EOF
if command -v cmake >/dev/null && command -v ninja >/dev/null; then
	(cd "$WORK/docker/context" && bash "$WORK/docker/build-stage.sh") >"$WORK/docker/build.log" 2>&1 ||
		fail "the build stage's commands fail on the Docker context: $(tail -n 30 "$WORK/docker/build.log")"
	for p in loyaltyd loyaltyctl; do
		"$WORK/docker/out/usr/bin/$p" --help >/dev/null || fail "the build stage's $p does not run"
	done
	rm -rf "$WORK/docker"
else
	skip "docker-build-stage" "cmake or ninja missing: the build stage's commands not run"
fi

# ---- 3. Docker Compose ----
log "deploy/compose/compose.yaml"
if command -v docker-compose >/dev/null; then
	docker-compose -f deploy/compose/compose.yaml config -q 2>"$WORK/out" ||
		fail "docker-compose config: $(cat "$WORK/out")"
	docker-compose -f deploy/compose/compose.yaml config >"$WORK/compose.yaml" 2>"$WORK/out" ||
		fail "docker-compose config: $(cat "$WORK/out")"
	[ ! -s "$WORK/out" ] || fail "docker-compose config warns: $(cat "$WORK/out")"
	log "$(docker-compose version --short 2>/dev/null || docker-compose version | head -n 1): config ok"
else
	skip "docker-compose" "docker-compose is not installed (make deps installs it): compose.yaml checked by the rules below only"
fi
mkdir -p "$WORK/compose"
"$PY" - deploy/compose/compose.yaml "$LY_SOURCE_DIR" "$WORK/compose" <<'EOF' || fail "compose.yaml"
import os, sys, yaml
path, src, out = sys.argv[1:4]
base = os.path.dirname(os.path.abspath(path))
c = yaml.safe_load(open(path))
errors = []
svc = c.get("services", {})
want = {"kafka", "postgres", "migrate", "worker-1", "worker-2", "producer"}
if set(svc) != want:
    errors.append(f"services {sorted(svc)}: want {sorted(want)}")
k = svc.get("kafka", {})
ke = k.get("environment", {})
if k.get("image") != "apache/kafka:3.9.1":
    errors.append(f"kafka image {k.get('image')}")
if set(str(ke.get("KAFKA_PROCESS_ROLES", "")).split(",")) != {"broker", "controller"}:
    errors.append("kafka: not a single KRaft node (KAFKA_PROCESS_ROLES)")
if "KAFKA_CONTROLLER_QUORUM_VOTERS" not in ke or "KAFKA_ZOOKEEPER_CONNECT" in ke:
    errors.append("kafka: KRaft controller quorum missing (or ZooKeeper configured)")
p = svc.get("postgres", {})
if p.get("image") != "postgres:15" or "healthcheck" not in p:
    errors.append("postgres: want postgres:15 with a healthcheck")
def deps(name):
    d = svc.get(name, {}).get("depends_on", {})
    return d if isinstance(d, dict) else {x: {"condition": "service_started"} for x in d}
for dep, cond in (("kafka", "service_healthy"), ("postgres", "service_healthy")):
    if deps("migrate").get(dep, {}).get("condition") != cond:
        errors.append(f"migrate must wait for {dep}: {cond}")
for s in ("worker-1", "worker-2", "producer"):
    if deps(s).get("migrate", {}).get("condition") != "service_completed_successfully":
        errors.append(f"{s} must wait for migrate: service_completed_successfully")
def argv(s):
    e, cmd = s.get("entrypoint", []), s.get("command", [])
    e = e if isinstance(e, list) else e.split()
    cmd = cmd if isinstance(cmd, list) else cmd.split()
    return " ".join(e + cmd)
m = argv(svc.get("migrate", {}))
if "loyaltyctl" not in m or " migrate" not in m or "topics --partitions 12" not in m:
    errors.append(f"migrate runs {m!r}: want loyaltyctl migrate, then topics --partitions 12")
if m.find(" migrate") > m.find("topics"):
    errors.append("migrate: the schema must come before the topics")
pr = argv(svc.get("producer", {}))
if "produce" not in pr or "--count" not in pr or "--seed" not in pr:
    errors.append(f"producer runs {pr!r}")
groups, ports = set(), set()
for name in ("migrate", "worker-1", "worker-2", "producer"):
    s = svc.get(name, {})
    b = s.get("build", {})
    if os.path.normpath(os.path.join(base, b.get("context", "."))) != os.path.normpath(src):
        errors.append(f"{name}: build context is not the repository root")
    if b.get("dockerfile") != "deploy/docker/Dockerfile":
        errors.append(f"{name}: dockerfile {b.get('dockerfile')}")
    mounts = {}
    for v in s.get("volumes", []):
        hp, cp = v.split(":")[:2]
        hp = os.path.normpath(os.path.join(base, hp))
        if not os.path.exists(hp):
            errors.append(f"{name}: mounts {hp}, which does not exist")
        mounts[cp] = hp
    a = argv(s)
    cfgpath = a.split("--config", 1)[1].split()[0] if "--config" in a else None
    if name != "migrate" and cfgpath is None:
        # loyaltyd's CMD in the image gives it; the workers give it again
        errors.append(f"{name}: no --config")
    cfgpath = cfgpath or "/etc/loyaltyd/loyalty.yaml"
    if cfgpath not in mounts:
        errors.append(f"{name}: --config {cfgpath} is not mounted")
        continue
    cfg = yaml.safe_load(open(mounts[cfgpath]))
    prog = cfg.get("program")
    if prog not in mounts:
        errors.append(f"{name}: program {prog} is not mounted")
    env = s.get("environment", {})
    env = env if isinstance(env, dict) else dict(x.split("=", 1) for x in env)
    if not all(k.startswith("LOYALTY_") for k in env):
        errors.append(f"{name}: environment other than LOYALTY_*")
    groups.add(env.get("LOYALTY_KAFKA_GROUP_ID", cfg.get("kafka", {}).get("group_id")))
    with open(os.path.join(out, name + ".env"), "w") as f:
        for k2, v2 in sorted(env.items()):
            f.write(f"{k2}={v2}\n")
    with open(os.path.join(out, name + ".paths"), "w") as f:
        f.write(f"{mounts[cfgpath]}\n{mounts.get(prog, '')}\n")
    if name.startswith("worker-"):
        listen = env.get("LOYALTY_HTTP_LISTEN", (cfg.get("http") or {}).get("listen", ""))
        port = listen.rsplit(":", 1)[-1]
        if not listen.startswith("0.0.0.0:"):
            errors.append(f"{name}: http.listen {listen!r} is not reachable from outside the container")
        published = [str(x).split(":")[-1].split("/")[0] for x in s.get("ports", [])]
        if port not in published:
            errors.append(f"{name}: http.listen port {port} is not published ({published})")
        if port not in str(s.get("healthcheck", {}).get("test")):
            errors.append(f"{name}: the healthcheck does not ask port {port}")
        ports.update(str(x).rsplit(":", 1)[0] for x in s.get("ports", []))
        if s.get("stop_signal", "SIGTERM") != "SIGTERM":
            errors.append(f"{name}: stop_signal")
if len(groups) != 1:
    errors.append(f"the workers are not in one consumer group: {groups}")
if len(ports) != 2:
    errors.append(f"the two workers publish the same host port: {ports}")
if errors:
    sys.exit("\n".join(errors))
EOF
for s in migrate worker-1 worker-2 producer; do
	{ read -r cfg; read -r prog; } <"$WORK/compose/$s.paths"
	check_config "compose $s" "$cfg" "$WORK/compose/$s.env"
	check_program "compose $s" "$prog"
done

# ---- 4. Kubernetes (kustomize) ----
log "deploy/k8s"
KZ=()
kz_go() {
	command -v go >/dev/null || return 1
	log "building kustomize $KUSTOMIZE_VERSION with go install (once; kept in $CACHE_DIR)"
	mkdir -p "$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION"
	GOBIN="$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION" \
		go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >"$WORK/go.log" 2>&1 ||
		fail "go install kustomize: $(tail -n 20 "$WORK/go.log")"
	KZ=("$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION/kustomize" build)
}
case $KUSTOMIZE_FROM in
auto)
	if command -v kustomize >/dev/null; then
		KZ=(kustomize build)
	elif [ -x "$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION/kustomize" ]; then
		KZ=("$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION/kustomize" build)
	elif command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
		KZ=(kubectl kustomize)
	else
		kz_go || fail "no kustomize, no kubectl and no go to build kustomize with"
	fi
	;;
kubectl) KZ=(kubectl kustomize) ;;
go) kz_go || fail "no go" ;;
*) fail "KUSTOMIZE_FROM=$KUSTOMIZE_FROM: want auto, kubectl or go" ;;
esac
case ${KZ[0]} in
kubectl) log "rendering with kubectl kustomize ($(kubectl version --client 2>/dev/null | grep -i kustomize || echo "version unknown"))" ;;
*)
	v=$("${KZ[0]}" version 2>/dev/null || true)
	[ "$v" != "(devel)" ] || v="$KUSTOMIZE_VERSION, built with go install"
	log "rendering with ${KZ[*]} ($v)"
	;;
esac
for k in base overlays/example; do
	name=${k//\//-}
	mkdir -p "$WORK/k8s-$name"
	"${KZ[@]}" "deploy/k8s/$k" >"$WORK/k8s-$name/all.yaml" 2>"$WORK/out" ||
		fail "kustomize deploy/k8s/$k: $(cat "$WORK/out")"
	"$PY" - "$WORK/k8s-$name/all.yaml" "$WORK/k8s-$name" "$k" <<'EOF' || fail "deploy/k8s/$k"
import base64, os, sys, yaml
path, out, which = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
errors = []
by = {}
for d in docs:
    by.setdefault(d["kind"], []).append(d)
for kind in ("Deployment", "PodDisruptionBudget", "ScaledObject", "Job", "ConfigMap", "Secret", "Service"):
    if len(by.get(kind, [])) != 1:
        errors.append(f"{len(by.get(kind, []))} {kind}: want one")
if errors:
    sys.exit("\n".join(errors))
dep, pdb, so, job = by["Deployment"][0], by["PodDisruptionBudget"][0], by["ScaledObject"][0], by["Job"][0]
cm, sec, svc = by["ConfigMap"][0], by["Secret"][0], by["Service"][0]
if which != "base" and not dep["metadata"].get("namespace"):
    errors.append("the overlay sets no namespace")
cfg = yaml.safe_load(cm["data"]["loyalty.yaml"])
listen = cfg.get("http", {}).get("listen", "")
port = int(listen.rsplit(":", 1)[-1]) if listen else None
if not listen.startswith("0.0.0.0:"):
    errors.append(f"http.listen {listen!r}: probes and Prometheus cannot reach it")
pod = dep["spec"]["template"]
ps = pod["spec"]
def matches(sel, labels):
    return all(labels.get(k) == v for k, v in sel.items())
def check_pod(name, spec):
    if spec.get("enableServiceLinks") is not False:
        errors.append(f"{name}: enableServiceLinks must be false (Service variables named LOYALTY_* would be refused)")
    sc = spec.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True or not sc.get("runAsUser"):
        errors.append(f"{name}: not run as a non-root uid")
    for c in spec.get("initContainers", []) + spec["containers"]:
        csc = c.get("securityContext", {})
        if csc.get("readOnlyRootFilesystem") is not True or csc.get("allowPrivilegeEscalation") is not False \
                or "ALL" not in csc.get("capabilities", {}).get("drop", []):
            errors.append(f"{name}/{c['name']}: securityContext (read-only root, no escalation, drop ALL)")
        r = c.get("resources", {})
        if not all(x in r.get(y, {}) for x in ("cpu", "memory") for y in ("requests", "limits")):
            errors.append(f"{name}/{c['name']}: resources requests/limits for cpu and memory")
        if sec["metadata"]["name"] not in [e.get("secretRef", {}).get("name") for e in c.get("envFrom", [])]:
            errors.append(f"{name}/{c['name']}: does not read the Secret {sec['metadata']['name']}")
        a = c.get("args", [])
        if "--config" not in a:
            errors.append(f"{name}/{c['name']}: no --config")
            continue
        cp = a[a.index("--config") + 1]
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        ok = False
        for vn, mp in mounts.items():
            v = vols.get(vn, {})
            if v.get("configMap", {}).get("name") == cm["metadata"]["name"]:
                for key in cm["data"]:
                    if os.path.join(mp, key) == cp:
                        ok = True
                prog = cfg.get("program", "")
                if os.path.dirname(prog) != mp or os.path.basename(prog) not in cm["data"]:
                    errors.append(f"{name}/{c['name']}: program {prog} is not in the mounted ConfigMap")
        if not ok:
            errors.append(f"{name}/{c['name']}: --config {cp} is not a mounted key of {cm['metadata']['name']}")
check_pod("Deployment", ps)
check_pod("Job", job["spec"]["template"]["spec"])
c = ps["containers"][0]
if c.get("args", [])[:1] != ["--config"] or c.get("command"):
    errors.append("the worker container must run the image's loyaltyd with --config")
cports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
if port not in cports.values():
    errors.append(f"containerPort {list(cports.values())} is not http.listen's {port}")
def probe_port(p):
    pp = p["httpGet"]["port"]
    return cports.get(pp) if isinstance(pp, str) else pp
for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    p = c.get(kind)
    if not p or p.get("httpGet", {}).get("path") != path or probe_port(p) != port:
        errors.append(f"{kind}: want GET {path} on port {port}")
if ps.get("terminationGracePeriodSeconds", 30) < 30:
    errors.append("terminationGracePeriodSeconds below 30 s")
plabels = pod["metadata"]["labels"]
jlabels = job["spec"]["template"]["metadata"]["labels"]
if not matches(dep["spec"]["selector"]["matchLabels"], plabels):
    errors.append("Deployment selector does not match its pods")
for what, sel in (("Service", svc["spec"]["selector"]), ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"])):
    if not matches(sel, plabels):
        errors.append(f"{what} does not select the workers")
    if matches(sel, jlabels):
        errors.append(f"{what} selects the migrate Job's pod too")
if pdb["spec"].get("maxUnavailable") != 1:
    errors.append("PodDisruptionBudget: maxUnavailable 1")
ann = svc["metadata"].get("annotations", {})
if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port) \
        or ann.get("prometheus.io/path", "/metrics") != "/metrics":
    errors.append(f"Service: prometheus.io annotations {ann} do not point at /metrics on {port}")
sp = svc["spec"]["ports"][0]
if sp["port"] != port or (cports.get(sp.get("targetPort")) if isinstance(sp.get("targetPort"), str) else sp.get("targetPort", sp["port"])) != port:
    errors.append("Service port/targetPort is not http.listen's port")
# The migrate Job: migrate first (an init container), then the topics.
jspec = job["spec"]["template"]["spec"]
inits = [" ".join(x.get("command", []) + x.get("args", [])) for x in jspec.get("initContainers", [])]
mains = [" ".join(x.get("command", []) + x.get("args", [])) for x in jspec["containers"]]
if not inits or not inits[0].startswith("/usr/bin/loyaltyctl") or not inits[0].endswith(" migrate"):
    errors.append(f"Job: the first step must be loyaltyctl ... migrate, not {inits}")
topics_cmd = [m for m in mains if " topics " in m + " "]
if not topics_cmd:
    errors.append("Job: no loyaltyctl topics step")
    partitions = None
else:
    t = topics_cmd[0].split()
    partitions = int(t[t.index("--partitions") + 1]) if "--partitions" in t else 6
if jspec.get("restartPolicy") not in ("Never", "OnFailure"):
    errors.append("Job: restartPolicy")
images = {x["image"] for x in ps["containers"] + jspec["containers"] + jspec.get("initContainers", [])}
if len(images) != 1:
    errors.append(f"workers and Job run different images: {images}")
# KEDA: one kafka trigger per input topic, on the group and brokers loyaltyd uses.
if so["apiVersion"] != "keda.sh/v1alpha1":
    errors.append(f"ScaledObject apiVersion {so['apiVersion']}")
if so["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
    errors.append("ScaledObject does not scale the Deployment")
if partitions is not None and so["spec"].get("maxReplicaCount") != partitions:
    errors.append(f"maxReplicaCount {so['spec'].get('maxReplicaCount')}: want the partition count {partitions}")
if not 1 <= so["spec"].get("minReplicaCount", 0) <= so["spec"].get("maxReplicaCount", 0):
    errors.append("minReplicaCount")
defaults = {"customers": "shop.customers", "orders": "shop.orders", "reviews": "shop.reviews",
            "social": "shop.social", "requests": "loyalty.requests"}
inputs = {(cfg.get("topics") or {}).get(k, v) for k, v in defaults.items()}
kafka = cfg.get("kafka", {})
brokers = kafka.get("brokers", "localhost:9092")
group = kafka.get("group_id", "loyaltyd")
seen = set()
for t in so["spec"]["triggers"]:
    md = t.get("metadata", {})
    if t.get("type") != "kafka":
        errors.append(f"trigger type {t.get('type')}")
        continue
    seen.add(md.get("topic"))
    if md.get("bootstrapServers") != brokers:
        errors.append(f"trigger {md.get('topic')}: bootstrapServers {md.get('bootstrapServers')} != kafka.brokers {brokers}")
    if md.get("consumerGroup") != group:
        errors.append(f"trigger {md.get('topic')}: consumerGroup {md.get('consumerGroup')} != kafka.group_id {group}")
    if not str(md.get("lagThreshold", "")).isdigit():
        errors.append(f"trigger {md.get('topic')}: lagThreshold")
if seen != inputs:
    errors.append(f"triggers on {sorted(seen)}: want the input topics {sorted(inputs)}")
# What loyaltyctl checks next: the settings, the Secret's variables, the program.
sdata = {k: base64.b64decode(v).decode() for k, v in sec.get("data", {}).items()}
sdata.update(sec.get("stringData", {}))
for k in ("LOYALTY_POSTGRES_CONNINFO", "LOYALTY_CODES_SECRET"):
    if k not in sdata:
        errors.append(f"Secret: no {k}")
for k in sdata:
    if not k.startswith("LOYALTY_"):
        errors.append(f"Secret key {k} is no LOYALTY_ variable")
env = dict(sdata)
for e in c.get("env", []):
    if "value" in e:
        env[e["name"]] = e["value"]
open(os.path.join(out, "loyalty.yaml"), "w").write(cm["data"]["loyalty.yaml"])
open(os.path.join(out, "program.yaml"), "w").write(cm["data"][os.path.basename(cfg.get("program", "program.yaml"))])
with open(os.path.join(out, "env"), "w") as f:
    for k, v in sorted(env.items()):
        f.write(f"{k}={v}\n")
if errors:
    sys.exit("\n".join(errors))
EOF
	check_config "k8s $k" "$WORK/k8s-$name/loyalty.yaml" "$WORK/k8s-$name/env"
	check_program "k8s $k" "$WORK/k8s-$name/program.yaml"
done

# ---- 5. the Grafana dashboard ----
log "deploy/grafana/loyaltyd.json"
"$PY" - deploy/grafana/loyaltyd.json docs/operations.md lib/metrics/metrics.c "$WORK/rules.yaml" <<'EOF' || fail "Grafana dashboard"
import json, os, re, sys
path, ops, metrics_c, rules = sys.argv[1:5]
known = {}
for line in os.environ["METRICS"].strip().splitlines():
    f = line.split()
    known[f[0]] = set(f[1:])
hist = {n for n, l in known.items() if "le" in l}
d = json.load(open(path))
errors = []
tv = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
if tv.get("DS_PROMETHEUS", {}).get("type") != "datasource" or tv["DS_PROMETHEUS"].get("query") != "prometheus":
    errors.append("no datasource variable DS_PROMETHEUS of type prometheus")
panels, exprs = [], []
def walk_panels(ps):
    for p in ps:
        panels.append(p)
        walk_panels(p.get("panels", []))
walk_panels(d.get("panels", []))
ids = [p["id"] for p in panels]
if len(ids) != len(set(ids)):
    errors.append("panel ids repeat")
boxes = []
for p in panels:
    g = p["gridPos"]
    if g["x"] < 0 or g["x"] + g["w"] > 24:
        errors.append(f"panel {p['title']!r} is outside the 24 columns")
    for q in boxes:
        if g["x"] < q["x"] + q["w"] and q["x"] < g["x"] + g["w"] and g["y"] < q["y"] + q["h"] and q["y"] < g["y"] + g["h"]:
            errors.append(f"panel {p['title']!r} overlaps another")
    boxes.append(g)
    if p["type"] == "row":
        continue
    for t in [p] + p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            errors.append(f"panel {p['title']!r}: datasource is not ${{DS_PROMETHEUS}}")
    if not p.get("targets"):
        errors.append(f"panel {p['title']!r} has no query")
    for t in p.get("targets", []):
        exprs.append((p["title"], t["expr"], t.get("legendFormat", "")))
for a in d.get("annotations", {}).get("list", []):
    if "expr" in a:
        exprs.append(("annotation " + a["name"], a["expr"], a.get("textFormat", "")))
var_queries = [v.get("query", "") for v in tv.values() if v.get("type") == "query"]
used = set()
all_labels = set().union(*known.values()) | {"job", "instance", "le"}
for title, e, legend in exprs + [("variable", q, "") for q in var_queries]:
    for name in re.findall(r"\b(?:loyalty|process)_[A-Za-z0-9_]*", e):
        base = name
        for s in ("_bucket", "_sum", "_count"):
            if name.endswith(s) and name[: -len(s)] in hist:
                base = name[: -len(s)]
        if base not in known:
            errors.append(f"{title}: {name} is not a metric loyaltyd exports")
            continue
        if name.endswith("_bucket") and "histogram_quantile" not in e:
            errors.append(f"{title}: {name} outside histogram_quantile")
        used.add(base)
    for name, sel in re.findall(r"\b((?:loyalty|process)_[A-Za-z0-9_]*)\{([^}]*)\}", e):
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in known else name
        for lab in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", sel):
            if lab not in known.get(base, set()) | {"job", "instance"}:
                errors.append(f"{title}: {name} has no label {lab}")
    for grp in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e):
        for lab in [x.strip() for x in grp.split(",") if x.strip()]:
            if lab not in all_labels:
                errors.append(f"{title}: grouping by unknown label {lab}")
    if "histogram_quantile" in e and not re.search(r"by\s*\([^)]*\ble\b", e):
        errors.append(f"{title}: histogram_quantile without le")
    for lab in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend):
        if lab not in all_labels:
            errors.append(f"{title}: legend uses unknown label {lab}")
missing = set(known) - used
if missing:
    errors.append(f"metrics no panel shows: {sorted(missing)}")
doc = open(ops).read()
for n in known:
    if n not in doc:
        errors.append(f"docs/operations.md does not list {n}")
if os.path.exists(metrics_c):
    src = open(metrics_c).read()
    for n in sorted(used):
        if f'"{n}' not in src:
            errors.append(f"lib/metrics/metrics.c does not export {n}")
else:
    print("SKIP: lib/metrics/metrics.c absent: names not compared with the code", file=sys.stderr)
# For promtool: every query as a recording rule, Grafana's variables filled in.
with open(rules, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e, _) in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
        f.write(f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(panels)} panels, {len(exprs)} queries, {len(used)} metrics", file=sys.stderr)
EOF
if command -v promtool >/dev/null; then
	promtool check rules "$WORK/rules.yaml" >"$WORK/out" 2>&1 ||
		fail "a dashboard query is not valid PromQL: $(cat "$WORK/out")"
else
	skip "promtool" "promtool is not installed: dashboard queries not parsed as PromQL"
fi

# ---- 6. systemd ----
log "deploy/systemd"
"$PY" - deploy/systemd/loyaltyd.service deploy/systemd/loyaltyd@.service <<'EOF' || fail "systemd units"
import sys
want = {
    "Type": "simple", "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure",
    "KillSignal": "SIGTERM", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
}
errors = []
for path in sys.argv[1:]:
    kv = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            kv.setdefault(k, []).append(v)
    for k, v in want.items():
        if v not in kv.get(k, []):
            errors.append(f"{path}: want {k}={v}")
    if "@system-service" not in kv.get("SystemCallFilter", []):
        errors.append(f"{path}: want SystemCallFilter=@system-service")
    if "-/etc/loyaltyd/env" not in kv.get("EnvironmentFile", []):
        errors.append(f"{path}: want EnvironmentFile=-/etc/loyaltyd/env")
    if not any(v in ("yes", "true") for v in kv.get("DynamicUser", [])) and not kv.get("User"):
        errors.append(f"{path}: runs as root")
    ex = kv.get("ExecStart", [""])[0].split()
    if ex[:2] != ["/usr/bin/loyaltyd", "--config"]:
        errors.append(f"{path}: ExecStart {ex}")
    t = int(kv.get("TimeoutStopSec", ["0"])[0].rstrip("s") or 0)
    if not 10 <= t <= 120:
        errors.append(f"{path}: TimeoutStopSec {t}")
if errors:
    sys.exit("\n".join(errors))
EOF
mkdir -p "$WORK/systemd"
printf '[Service]\nExecStart=/bin/true\n' >"$WORK/systemd/ly-probe.service"
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze" "systemd-analyze is not installed: units checked by the rules above only"
elif ! systemd-analyze verify "$WORK/systemd/ly-probe.service" >"$WORK/out" 2>&1 || [ -s "$WORK/out" ]; then
	skip "systemd-analyze" "systemd-analyze verify does not work here ($(head -c 300 "$WORK/out")): units checked by the rules above only"
else
	# verify wants ExecStart's program to exist: the built one, or /bin/true.
	bin=/bin/true
	[ -x "$LY_BIN_DIR/loyaltyd" ] && bin=$LY_BIN_DIR/loyaltyd
	for u in loyaltyd.service loyaltyd@.service; do
		sed "s#/usr/bin/loyaltyd#$bin#" "deploy/systemd/$u" >"$WORK/systemd/$u"
	done
	for u in loyaltyd.service loyaltyd@w1.service; do
		systemd-analyze verify "$WORK/systemd/$u" >"$WORK/out" 2>&1 || fail "systemd-analyze verify $u: $(cat "$WORK/out")"
		[ ! -s "$WORK/out" ] || fail "systemd-analyze verify $u: $(cat "$WORK/out")"
		# Exposure 0.0 (locked down) to 10.0; 2.0 and below is "OK".
		if systemd-analyze security --offline=yes --no-pager "$WORK/systemd/$u" >/dev/null 2>&1; then
			systemd-analyze security --offline=yes --threshold=20 --no-pager "$WORK/systemd/$u" >"$WORK/out" 2>&1 ||
				fail "$u: exposure above 2.0: $(grep -i 'overall exposure' "$WORK/out")"
			log "$u: $(grep -i 'overall exposure' "$WORK/out" | sed 's/\x1b\[[0-9;]*m//g')"
		else
			skip "systemd-security" "systemd-analyze security --offline is not available"
		fi
	done
	log "$(systemd-analyze --version | head -n 1): verify ok"
fi

if [ ${#SKIPPED[@]} -gt 0 ]; then
	log "passed; not run here: ${SKIPPED[*]}"
else
	log "passed"
fi
