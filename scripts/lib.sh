# Shared by scripts/run.sh, scripts/test.sh and .ci/run. Source it; it defines functions only.

# Installs the npm dependencies when node_modules is missing or older than the lockfile.
ensure_node_modules() {
  if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "traceledger: installing npm dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund >&2
  fi
}

# With no DATABASE_URL, traceledger uses the local server at 127.0.0.1:5432; start it if it is down
# (Debian's pg_ctlcluster, as on the project's machines).
ensure_local_postgres() {
  [ -n "${DATABASE_URL:-}" ] && return 0
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "traceledger: starting local PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  fi
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && return 0
    sleep 0.5
  done
  echo "traceledger: no PostgreSQL at 127.0.0.1:5432; start one or set DATABASE_URL" >&2
  return 1
}
