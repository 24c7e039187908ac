#!/usr/bin/env bash
# `npm run test:history -- --seeds N [--first S] [--list 4,9,17] [vitest options]`: runs the
# history checker (tests/history) for N seeds starting at S (default: 3 seeds from 1), or for the
# listed seeds, one vitest test per seed. Other arguments go to vitest unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

seeds="" first="" list=""
pass=()
usage() {
  echo "usage: npm run test:history -- [--seeds N] [--first S] [--list S1,S2,...] [vitest options]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) [ $# -ge 2 ] || usage; seeds="$2"; shift 2 ;;
    --seeds=*) seeds="${1#*=}"; shift ;;
    --first) [ $# -ge 2 ] || usage; first="$2"; shift 2 ;;
    --first=*) first="${1#*=}"; shift ;;
    --list) [ $# -ge 2 ] || usage; list="$2"; shift 2 ;;
    --list=*) list="${1#*=}"; shift ;;
    -h|--help) usage ;;
    *) pass+=("$1"); shift ;;
  esac
done
whole() { [[ "$2" =~ ^[0-9]{1,9}$ ]] || { echo "test:history: $1 must be a whole number, got \"$2\"" >&2; exit 2; }; }
[ -z "$seeds" ] || whole --seeds "$seeds"
[ -z "$first" ] || whole --first "$first"
[ -z "$list" ] || [[ "$list" =~ ^[0-9]{1,9}(,[0-9]{1,9})*$ ]] || { echo "test:history: --list must be seeds separated by commas, got \"$list\"" >&2; exit 2; }

unset TL_HISTORY_SEEDS TL_HISTORY_SEED_COUNT TL_HISTORY_FIRST_SEED
if [ -n "$list" ]; then
  export TL_HISTORY_SEEDS="$list"
else
  export TL_HISTORY_SEED_COUNT="${seeds:-3}" TL_HISTORY_FIRST_SEED="${first:-1}"
fi
ensure_node_modules
ensure_local_postgres
exec npx vitest run --project history ${pass[@]+"${pass[@]}"}
