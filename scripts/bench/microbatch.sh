#!/usr/bin/env bash
# Micro-batching figures (issue 13): 200 concurrent clients sending small
# /v1/embeddings and /v1/completions requests through the wired proxy to a
# fake upstream, batching off and on in the same run. Prints a Markdown
# section on stdout. In process over loopback: no fixed ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLMROUTER_MICROBATCH_BENCH=1 go test -count=1 -v -run '^TestMicroBatchThroughProxy$' ./cmd/llmrouter/ \
  | awk '/^## Micro-batching/{on=1} /^(=== |--- |    --- |PASS|ok )/{next} on'
