#!/usr/bin/env bash
# deploy/local/kafka.sh — throwaway single-node Apache Kafka broker (KRaft,
# combined broker+controller) for local runs and CI.
#
#   deploy/local/kafka.sh start|stop|status|reset [DIR]
#   deploy/local/kafka.sh libs      # fetch if needed, print the jar directory
#
# With the jars you can run the Kafka CLI tools against the broker, e.g.
#   java -cp "$(deploy/local/kafka.sh libs)/*" \
#     -Dlog4j.configuration=file:build/local/kafka/tools-log4j.properties \
#     org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:59092 --list
#
# The broker jars come from Maven Central via deploy/local/pom.xml and are
# cached in ${XDG_CACHE_HOME:-$HOME/.cache}/loyaltyd/kafka-<version>/libs
# (a marker file records a complete copy; later runs skip mvn entirely).
# DIR defaults to <repo>/build/local/kafka and holds server.properties,
# log4j.properties, data/ (log.dirs), kafka.pid and kafka.log.
# Broker: PLAINTEXT 127.0.0.1:${LY_KAFKA_PORT:-59092}; controller on
# 127.0.0.1:${LY_KAFKA_CONTROLLER_PORT:-59093}.  Topic auto-creation is off.
# `start` is idempotent and prints "kafka: 127.0.0.1:<port>" as its last line.
# `reset` stops the broker, deletes its data (every topic) and starts it
# afresh: `make bench` measures on a broker that holds only its own topics,
# since one that kept every test's topics (thousands of partitions) spends
# a large share of a core on them while the bench runs.
#
# Environment:
#   LY_KAFKA_PORT             broker port (default 59092)
#   LY_KAFKA_CONTROLLER_PORT  controller port (default 59093)
#   LY_KAFKA_HEAP             JVM heap options (default "-Xms512m -Xmx512m")
#   LY_KAFKA_LIBS             jar directory to use instead of the cache
#   JAVA_HOME                 picks $JAVA_HOME/bin/java instead of java on PATH
#   MAVEN_OPTS / LY_MVN_ARGS  passed to mvn when the jars must be fetched
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM=$SCRIPT_DIR/pom.xml

HOST=127.0.0.1
PORT=${LY_KAFKA_PORT:-59092}
CPORT=${LY_KAFKA_CONTROLLER_PORT:-59093}
HEAP=${LY_KAFKA_HEAP:--Xms512m -Xmx512m}
START_TIMEOUT=90
STOP_TIMEOUT=30

usage() {
    echo "usage: $0 start|stop|status [DIR] | libs" >&2
    exit 2
}

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
CMD=$1
DIR=$(realpath -m -- "${2:-$REPO_ROOT/build/local/kafka}")
DATA=$DIR/data
PIDFILE=$DIR/kafka.pid
LOG=$DIR/kafka.log
PROPS=$DIR/server.properties
LOG4J=$DIR/log4j.properties

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)
[ -n "$KAFKA_VERSION" ] || die "cannot read <kafka.version> from $POM"
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/loyaltyd/kafka-$KAFKA_VERSION
LIBS=${LY_KAFKA_LIBS:-$CACHE_ROOT/libs}
MARKER=$LIBS/.loyaltyd-complete

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA=$JAVA_HOME/bin/java
else
    JAVA=java
fi

# ---------------------------------------------------------------- helpers

pom_digest() {
    sha256sum "$POM" | cut -d' ' -f1
}

# Copies the broker jars into $LIBS unless a complete copy for this exact pom
# is already there.  Serialised with flock so parallel starts do not race.
fetch_libs() {
    if [ -n "${LY_KAFKA_LIBS:-}" ]; then
        ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "LY_KAFKA_LIBS=$LIBS has no kafka_2.13 jar"
        return 0
    fi
    local want
    want=$(pom_digest)
    if [ "$(cat "$MARKER" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    mkdir -p "$CACHE_ROOT"
    exec 9>"$CACHE_ROOT/.lock"
    flock 9
    if [ "$(cat "$MARKER" 2>/dev/null)" != "$want" ]; then
        command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION jars)"
        local tmp=$CACHE_ROOT/libs.tmp.$$
        rm -rf "$tmp"
        echo "kafka.sh: fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
        # shellcheck disable=SC2086
        if ! mvn -B -q -Dstyle.color=never ${LY_MVN_ARGS:-} -f "$POM" \
            dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$tmp" >"$CACHE_ROOT/mvn.log" 2>&1; then
            tail -n 40 "$CACHE_ROOT/mvn.log" >&2
            rm -rf "$tmp"
            die "mvn dependency:copy-dependencies failed (full log: $CACHE_ROOT/mvn.log)"
        fi
        ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
            die "mvn ran but $tmp has no kafka_2.13-$KAFKA_VERSION.jar"
        rm -rf "$LIBS"
        mv "$tmp" "$LIBS"
        echo "$want" >"$MARKER"
    fi
    flock -u 9
    exec 9>&-
}

# True if the process exists and is not a zombie (a dead JVM can linger as a
# zombie in containers whose init reaps slowly; kill -0 still succeeds then).
pid_alive() {
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Pid of our broker if it is alive (and really is a Kafka JVM), else nothing.
live_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

# Bootstrap address of the running broker, from its generated config.
running_addr() {
    sed -n 's|^advertised.listeners=PLAINTEXT://||p' "$PROPS" 2>/dev/null | head -n1 | grep . ||
        echo "$HOST:$PORT"
}

port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

log_tail() {
    echo "---- last lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2 2>/dev/null || true
    echo "----" >&2
}

# True once the broker answers a metadata request and lists itself.
broker_ready() {
    if command -v kcat >/dev/null; then
        local out
        out=$(timeout 10 kcat -b "$HOST:$PORT" -L -t __loyaltyd_probe -m 5 2>/dev/null) || true
        grep -q "broker 1 at $HOST:$PORT" <<<"$out"
    else
        # Fallback without kcat: the listener is up and the server logged startup.
        port_in_use "$PORT" && grep -q 'Kafka Server started' "$LOG"
    fi
}

write_config() {
    mkdir -p "$DATA"
    cat >"$PROPS" <<EOF
# Generated by deploy/local/kafka.sh at every start; do not edit.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CPORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
# Room for the tests' oversized poison message (the input limit is 1 MiB).
message.max.bytes=4194304
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
    cat >"$LOG4J" <<'EOF'
# Generated by deploy/local/kafka.sh. Everything goes to stdout, which the
# script redirects to kafka.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
EOF
    cat >"$DIR/tools-log4j.properties" <<'EOF'
# Generated by deploy/local/kafka.sh, for the Kafka CLI tools: warnings only.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# JVM command line shared by the storage tool and the broker.
java_argv() {
    local heap
    read -r -a heap <<<"$HEAP"
    JAVA_ARGV=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J"
        -Dkafka.logs.dir="$DIR" -cp "$LIBS/*")
}

java_cmd() {
    java_argv
    "${JAVA_ARGV[@]}" "$@"
}

format_storage() {
    [ -f "$DATA/meta.properties" ] && return 0
    local cid
    if [ -s "$DIR/cluster-id" ]; then
        cid=$(cat "$DIR/cluster-id")
    else
        cid=$("$JAVA" -cp "$LIBS/*" -Dlog4j.configuration="file:$LOG4J" \
            kafka.tools.StorageTool random-uuid 2>>"$LOG" | tail -n1)
        [ -n "$cid" ] || { log_tail; die "StorageTool random-uuid failed"; }
        echo "$cid" >"$DIR/cluster-id"
    fi
    echo "kafka.sh: formatting $DATA (cluster id $cid)"
    java_cmd kafka.tools.StorageTool format -t "$cid" -c "$PROPS" >>"$LOG" 2>&1 ||
        { log_tail; die "StorageTool format failed"; }
}

# ---------------------------------------------------------------- commands

do_start() {
    local pid
    if pid=$(live_pid); then
        echo "kafka.sh: already running (pid $pid, dir $DIR)"
        echo "kafka: $(running_addr)"
        return 0
    fi
    command -v "$JAVA" >/dev/null || die "java not found (need a JDK/JRE 17+; set JAVA_HOME)"
    fetch_libs
    mkdir -p "$DIR"
    rm -f "$PIDFILE"
    for p in "$PORT" "$CPORT"; do
        port_in_use "$p" && die "$HOST:$p is already in use by another process (set LY_KAFKA_PORT / LY_KAFKA_CONTROLLER_PORT)"
    done
    [ -f "$LOG" ] && mv -f "$LOG" "$LOG.1"
    : >"$LOG"
    write_config
    format_storage

    echo "kafka.sh: starting Kafka $KAFKA_VERSION on $HOST:$PORT (dir $DIR, log $LOG)"
    # The inner shell records its own pid and then execs the JVM, so the pid
    # file names the broker itself; setsid detaches it from our session.
    java_argv
    # shellcheck disable=SC2016
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
        "${JAVA_ARGV[@]}" kafka.Kafka "$PROPS" </dev/null >>"$LOG" 2>&1 &

    local deadline=$((SECONDS + START_TIMEOUT)) grace=$((SECONDS + 5))
    until broker_ready; do
        if [ $SECONDS -ge $deadline ]; then
            log_tail
            do_stop >/dev/null 2>&1 || true
            die "broker did not answer on $HOST:$PORT within ${START_TIMEOUT}s"
        fi
        if [ $SECONDS -ge $grace ] && ! live_pid >/dev/null; then
            log_tail
            die "broker exited during startup"
        fi
        sleep 1
    done
    echo "kafka.sh: broker up (pid $(cat "$PIDFILE"))"
    echo "kafka: $HOST:$PORT"
}

do_stop() {
    local pid
    if ! pid=$(live_pid); then
        rm -f "$PIDFILE"
        echo "kafka.sh: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while pid_alive "$pid"; do
        if [ $SECONDS -ge $deadline ]; then
            echo "kafka.sh: broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    rm -f "$PIDFILE"
    echo "kafka.sh: stopped"
}

do_status() {
    local pid
    if pid=$(live_pid); then
        echo "kafka.sh: running (pid $pid, dir $DIR)"
        echo "kafka: $(running_addr)"
        return 0
    fi
    echo "kafka.sh: not running"
    return 1
}

case $CMD in
    start) do_start ;;
    reset) do_stop && rm -rf "$DATA" && do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    libs)
        [ $# -eq 1 ] || usage
        fetch_libs >&2
        echo "$LIBS"
        ;;
    *) usage ;;
esac
