#!/usr/bin/env bash
# `npm test`: type-check, then the unit, integration and end-to-end layers. Provisions what the
# tests need: npm dependencies, the local Postgres (unless DATABASE_URL is set) and a Kafka
# broker (tests/setup/global-infra.ts: KAFKA_BROKERS, else Docker, else scripts/kafka-local.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_node_modules
ensure_local_postgres
echo "traceledger: type-checking" >&2
npx tsc -p tsconfig.json
mkdir -p .cache
report=.cache/vitest-report.json
rm -f "$report"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line that any CI can read: "vitest: N passed, N failed, N skipped".
if [ -f "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
fi
exit "$status"
