// Command llmrouter is the LLM routing reverse proxy: an OpenAI-compatible
// endpoint that routes each request to the cheapest adequate model, answers
// from caches when safe, and fails over between providers.
//
// Usage:
//
//	llmrouter [-config FILE] [-listen ADDR]        serve (default)
//	llmrouter check-config -config FILE             validate a config
//	llmrouter classify -config FILE < prompts.jsonl route prompts offline
//	llmrouter cache tune -config FILE --pairs FILE  calibrate the semantic threshold
//	llmrouter router fit -data FILE -out FILE       fit the learned classifier
//	llmrouter router eval -config FILE -data FILE   cost-quality curve on labelled prompts
//	llmrouter healthcheck [-config FILE | -url URL] exit 0 when /healthz answers (Docker)
//	llmrouter version                               print the version and build commit
//	llmrouter loadgen [-url URL] [-rate N] [FILE...] send a prompt mix to a running proxy
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// defaultConfigPath is used when -config is not given.
const defaultConfigPath = "configs/default.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a sub-command and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest := args[0], args[1:]
		switch cmd {
		case "serve":
			return serveCmd(rest, stderr)
		case "check-config":
			return checkConfigCmd(rest, stdout, stderr)
		case "classify":
			return classifyCmd(rest, stdin, stdout, stderr)
		case "cache":
			if len(rest) > 0 && rest[0] == "tune" {
				return cacheTuneCmd(rest[1:], stdout, stderr)
			}
			fmt.Fprintln(stderr, "usage: llmrouter cache tune -config FILE --pairs FILE [-precision 0.99] [-min-hits N]")
			return 2
		case "healthcheck":
			return healthcheckCmd(rest, stderr)
		case "router":
			return routerCmd(rest, stdout, stderr)
		case "version":
			return versionCmd(stdout)
		case "loadgen":
			return loadgenCmd(rest, stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usageText)
			return 0
		default:
			fmt.Fprintf(stderr, "llmrouter: unknown command %q\n%s", cmd, usageText)
			return 2
		}
	}
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		return versionCmd(stdout)
	}
	return serveCmd(args, stderr)
}

const usageText = `usage:
  llmrouter [-config FILE] [-listen ADDR]          serve (default config: configs/default.yaml)
  llmrouter check-config -config FILE              validate a config and print a summary
  llmrouter classify -config FILE < prompts.jsonl  add tier, score and reasons to each JSONL line
  llmrouter cache tune -config FILE --pairs FILE   hit ratio vs precision by semantic threshold
  llmrouter router fit -data FILE -out FILE        fit the learned classifier (subject-wise CV)
  llmrouter router eval -config FILE -data FILE    cost-quality curve, APGR, vs hand/size/random
  llmrouter healthcheck [-config FILE] [-url URL]  exit 0 when the proxy's /healthz answers
                                                   (address from the config's server.listen)
  llmrouter version                                print the version and build commit
  llmrouter loadgen [-url URL] [-key K] [-rate N] [-concurrency N] [-duration D] [FILE.jsonl...]
                                                   send a realistic prompt mix (default: the shared prompt sets)
  llmrouter help                                   this text

serve flags:
`
