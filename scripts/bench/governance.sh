#!/usr/bin/env bash
# governance.sh: the CPU that the Postgres usage ledger, budgets and rate
# limits add per pass-through request, as a ratio measured in one run.
# Prints a Markdown section (scripts/bench.sh appends it to BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
export LLMROUTER_BENCH_REQUESTS=${LLMROUTER_BENCH_REQUESTS:-2000}
export LLMROUTER_TEST_DATABASE_URL=${LLMROUTER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
UP_ADDR=${GOV_BENCH_UPSTREAM:-127.0.0.1:19471}
work=$(mktemp -d /tmp/llmrouter-govbench.XXXXXX)
go build -o "$work/benchupstream" ./cmd/benchupstream
"$work/benchupstream" -listen "$UP_ADDR" 2>"$work/upstream.log" &
up=$!
trap 'kill $up 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 0.5
LLMROUTER_BENCH_GOVERNANCE=1 LLMROUTER_BENCH_UPSTREAM="$UP_ADDR" \
  go test -v -count=1 -run '^TestGovernanceCPUOverhead$' ./cmd/llmrouter | sed -n '/^## Ledger/,/^\*\*Governed/p'
