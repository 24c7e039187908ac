#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft mode) on loopback, from Maven Central jars.
#
#   scripts/kafka-local.sh start    fetch jars if needed, format storage once, start, wait until it answers
#   scripts/kafka-local.sh stop     stop it cleanly (SIGTERM, then SIGKILL after a deadline)
#   scripts/kafka-local.sh status   exit 0 when a broker answers on the port
#   scripts/kafka-local.sh fetch    only fetch the jars into the cache
#   scripts/kafka-local.sh brokers  print the bootstrap address (host:port)
#   scripts/kafka-local.sh tools-classpath  fetch Kafka's tools (ProducerPerformance, ...) and print their classpath
#
# Idempotent: a second `start` reuses the cached jars and a broker that is already running.
# Settings (environment):
#   KAFKA_VERSION     default 3.9.1
#   KAFKA_PORT        client port, default 9092 (the KRaft controller listens on KAFKA_PORT+1)
#   KAFKA_HOME_DIR    where the jars are cached, default ${XDG_CACHE_HOME:-$HOME/.cache}/traceledger/kafka-$KAFKA_VERSION
#   KAFKA_DATA_DIR    log dirs, pid and logs of this instance, default $KAFKA_HOME_DIR/instance-$KAFKA_PORT
#   KAFKA_HEAP        JVM heap, default 512m
#   KAFKA_JVM_OPTS    JVM flags, default "-XX:+UseSerialGC -XX:TieredStopAtLevel=1" (starts fast and
#                     small, for tests); benchmarks use "-XX:+UseG1GC" (the JIT's full tiers, as a
#                     production broker runs)
#   KAFKA_START_TIMEOUT_S  how long `start` waits for the broker to answer, default 180
#   KAFKA_EXTRA_CONFIG  server.properties lines appended after the defaults (a later key wins), e.g.
#                     "broker.session.timeout.ms=2000" so a SIGKILLed broker re-registers quickly
#   KAFKA_NODE_ID, KAFKA_QUORUM_VOTERS, KAFKA_CLUSTER_ID  for one node of a multi-node KRaft cluster:
#                     its id (default 1), every controller as id@host:port (default this node only)
#                     and the id all nodes' storage is formatted with (default per port); start
#                     the nodes at once, since none is ready before a quorum of controllers is up
# A second broker for a fault test is just another KAFKA_PORT and KAFKA_DATA_DIR; a cluster is
# several, each with its own KAFKA_NODE_ID and the same KAFKA_QUORUM_VOTERS and KAFKA_CLUSTER_ID.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="$((KAFKA_PORT + 1))"
KAFKA_HOME_DIR="${KAFKA_HOME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/traceledger/kafka-$KAFKA_VERSION}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$KAFKA_HOME_DIR/instance-$KAFKA_PORT}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
LIBS="$KAFKA_HOME_DIR/libs"
PIDFILE="$KAFKA_DATA_DIR/kafka.pid"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-180}"

log() { echo "kafka-local: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed broker stays a zombie until its parent reaps it: that is not a running broker.
  if grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then return 1; fi
  echo "$pid"
}

# Copies org.apache.kafka:$2 ($KAFKA_VERSION) and its runtime dependencies, with the slf4j binding
# $3, into the folder $1 (kept whole or not at all; a .complete marker says it is done).
mvn_copy() {
  local dest="$1" artifact="$2" binding="$3"
  if [ -f "$dest/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn is needed to fetch $artifact from Maven Central"; exit 1; }
  mkdir -p "$KAFKA_HOME_DIR"
  local pom="$KAFKA_HOME_DIR/pom-$artifact.xml"
  cat >"$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.traceledger</groupId>
  <artifactId>kafka-local-$artifact</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>$artifact</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>$binding</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
EOF
  log "fetching Apache Kafka $KAFKA_VERSION ($artifact) with mvn into $dest"
  rm -rf "$dest.tmp"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.tmp" >&2
  rm -rf "$dest" && mv "$dest.tmp" "$dest" && touch "$dest/.complete"
}

fetch() {
  command -v java >/dev/null || { log "java (17+) is needed to run the broker"; exit 1; }
  mvn_copy "$LIBS" kafka_2.13 slf4j-reload4j
}

# Kafka's own command-line tools (org.apache.kafka:kafka-tools: ProducerPerformance,
# ConsumerPerformance), for the benchmarks' limits; kept apart from the broker's classpath.
TOOLS_LIBS="$KAFKA_HOME_DIR/tools-libs"
fetch_tools() {
  mvn_copy "$TOOLS_LIBS" kafka-tools slf4j-nop
}

write_config() {
  mkdir -p "$KAFKA_DATA_DIR/logs"
  cat >"$KAFKA_DATA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=${KAFKA_NODE_ID:-1}
controller.quorum.voters=${KAFKA_QUORUM_VOTERS:-1@127.0.0.1:$CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA_DIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
log.segment.bytes=67108864
EOF
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then printf '%s\n' "$KAFKA_EXTRA_CONFIG" >>"$KAFKA_DATA_DIR/server.properties"; fi
  cat >"$KAFKA_DATA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_DATA_DIR/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
EOF
}

start() {
  fetch
  if pid="$(running_pid)"; then
    # A broker that answers is ready (its start line may have rolled out of server.log long ago).
    port_open "$KAFKA_PORT" || wait_ready "$pid"
    log "broker already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    log "port $KAFKA_PORT is taken by another process; set KAFKA_PORT or KAFKA_BROKERS"
    exit 1
  fi
  write_config
  if [ ! -f "$KAFKA_DATA_DIR/data/meta.properties" ]; then
    log "formatting KRaft storage in $KAFKA_DATA_DIR/data"
    java -cp "$LIBS/*" -Dlog4j.configuration="file:$KAFKA_DATA_DIR/log4j.properties" \
      kafka.tools.StorageTool format -t "${KAFKA_CLUSTER_ID:-traceledger-local-$KAFKA_PORT}" \
      -c "$KAFKA_DATA_DIR/server.properties" --ignore-formatted >/dev/null
  fi
  log "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (data in $KAFKA_DATA_DIR)"
  # Readiness is read from the log lines this start writes, not from an earlier run's: each start
  # begins a fresh server.log (the previous one is kept as server.log.prev). An offset into a
  # long-lived log is not enough: log4j rolls it at 20 MB, and a roll during start-up would hide
  # the start line past the offset.
  local f
  for f in server.log server.log.1 server.log.2; do
    if [ -f "$KAFKA_DATA_DIR/logs/$f" ]; then mv -f "$KAFKA_DATA_DIR/logs/$f" "$KAFKA_DATA_DIR/logs/$f.prev"; fi
  done
  # setsid: the broker outlives this script and the shell that ran it.
  # shellcheck disable=SC2086 # the flags are words
  setsid nohup java -Xms128m -Xmx"$KAFKA_HEAP" ${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_DATA_DIR/log4j.properties" \
    -cp "$LIBS/*" kafka.Kafka "$KAFKA_DATA_DIR/server.properties" \
    >"$KAFKA_DATA_DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_ready "$!"
  log "broker ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PIDFILE"))"
}

# The start line of this start, in server.log or, should log4j have rolled it already, server.log.1.
started_line_logged() {
  # -s: either file may be missing; -q: a match counts even then.
  grep -qs "Kafka Server started" "$KAFKA_DATA_DIR/logs/server.log" "$KAFKA_DATA_DIR/logs/server.log.1"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT_S)) next_report=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker exited during start; last lines of its log:"
      tail -n 30 "$KAFKA_DATA_DIR/logs/server.log" "$KAFKA_DATA_DIR/logs/stdout.log" >&2 2>/dev/null || true
      exit 1
    fi
    # The client port opens once the broker has joined the KRaft quorum and can serve metadata.
    if port_open "$KAFKA_PORT" && started_line_logged; then
      return 0
    fi
    if [ $SECONDS -ge $next_report ]; then
      # A broker killed uncleanly recovers its logs first, which takes a while with much data.
      log "still starting after $((SECONDS - deadline + START_TIMEOUT_S))s; last log line: $(tail -n 1 "$KAFKA_DATA_DIR/logs/server.log" 2>/dev/null | cut -c1-200)"
      next_report=$((SECONDS + 20))
    fi
    sleep 0.5
  done
  log "broker did not become ready within ${START_TIMEOUT_S}s; last lines of $KAFKA_DATA_DIR/logs/server.log:"
  tail -n 30 "$KAFKA_DATA_DIR/logs/server.log" "$KAFKA_DATA_DIR/logs/stdout.log" >&2 2>/dev/null || true
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then log "no broker running for $KAFKA_DATA_DIR"; rm -f "$PIDFILE"; return 0; fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then log "broker did not stop in 30s, killing it"; kill -KILL "$pid"; fi
  rm -f "$PIDFILE"
  log "broker stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running_pid >/dev/null && port_open "$KAFKA_PORT"; then echo "running 127.0.0.1:$KAFKA_PORT"; else echo "stopped"; exit 1; fi ;;
  fetch) fetch ;;
  brokers) echo "127.0.0.1:$KAFKA_PORT" ;;
  tools-classpath) fetch_tools; echo "$TOOLS_LIBS/*" ;;
  *) echo "usage: $0 start|stop|status|fetch|brokers|tools-classpath" >&2; exit 2 ;;
esac
