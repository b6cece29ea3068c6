# lib.sh: shared pieces of the bench scripts (sourced, not run).

# bench_config FILE LISTEN EXACT UPSTREAM: the proxy config every HTTP bench
# measures: no auth, one OpenAI-compatible upstream at UPSTREAM (host:port)
# behind every tier and the alias "bench", the exact cache on or off (EXACT
# is true or false), the semantic cache off, a price so usage is counted.
bench_config() {
  cat >"$1" <<YAML
server: {listen: "$2"}
auth: {mode: none}
providers:
  - {name: up, type: openai, base_url: "http://$4/v1", api_key_env: BENCH_UPSTREAM_KEY, max_conns: 256}
models:
  bench: [{provider: up, model: bench-model}]
routing:
  tiers:
    small: {chain: [{provider: up, model: bench-model}]}
    medium: {chain: [{provider: up, model: bench-model}]}
    large: {chain: [{provider: up, model: bench-model}]}
cache:
  exact: {enabled: $3}
  semantic: {enabled: false}
prices:
  bench-model: {input: 1.0, output: 2.0}
YAML
}
