#!/usr/bin/env bash
# `npm run demo` / `npm run stack`: prepare what is missing, then run the pipeline (scripts/run.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_node_modules
ensure_local_postgres
exec node --import tsx scripts/run.ts "$@"
