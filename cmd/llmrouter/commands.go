package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/cache/tune"
	"llmrouter/config"
	"llmrouter/llm"
	"llmrouter/router/classifier"
)

func loadFlagConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, *flag.FlagSet, int) {
	fs := flag.NewFlagSet("llmrouter "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "YAML config file")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, 2
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter %s: %v\n", name, err)
		return nil, nil, 1
	}
	return cfg, fs, 0
}

// checkConfigCmd validates a config and prints what it would run. It runs
// the same build as start-up and reload (build), so a config it accepts
// starts, and one it refuses would not.
func checkConfigCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, code := loadFlagConfig("check-config", args, stderr, nil)
	if cfg == nil {
		return code
	}
	if err := checkBuild(cfg); err != nil {
		fmt.Fprintf(stderr, "llmrouter check-config: %v\n", err)
		return 1
	}
	aliases := make([]string, 0, len(cfg.Models))
	for a := range cfg.Models {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	fmt.Fprintf(stdout, "config ok: %d providers, aliases %v, auto aliases %v, auth %s, database %v, exact cache %v, semantic cache %v (%s)\n",
		len(cfg.Providers), aliases, cfg.Routing.AutoAliases, cfg.Auth.Mode, cfg.Database.URL != "",
		cfg.Cache.Exact.Enabled, cfg.Cache.Semantic.Enabled, cfg.Cache.Embedder.Type)
	return 0
}

// classifyCmd reads JSONL prompts on stdin and writes them back with the
// tier, score and reasons the configured classifier gives them.
func classifyCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, _, code := loadFlagConfig("classify", args, stderr, nil)
	if cfg == nil {
		return code
	}
	c, err := newClassifier(cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter classify: %v\n", err)
		return 1
	}
	price := func(t llm.Tier) (float64, float64) {
		tp, ok := cfg.Routing.Tiers[t.String()]
		if !ok || len(tp.Chain) == 0 {
			return 0, 0
		}
		p := cfg.Prices[tp.Chain[0].Model]
		return p.Input, p.Output
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	if err := classifier.RunJSONL(stdin, out, stderr, c, price); err != nil {
		fmt.Fprintf(stderr, "llmrouter classify: %v\n", err)
		return 1
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "llmrouter classify: %v\n", err)
		return 1
	}
	return 0
}

// cacheTuneCmd prints hit ratio, precision and recall by threshold for the
// configured embedder on labelled pairs, and recommends the loosest
// threshold that keeps the target precision on enough hits; without one it
// says what it saw and what it would need, and exits 1.
func cacheTuneCmd(args []string, stdout, stderr io.Writer) int {
	var pairsPath string
	var target, from, to, step float64
	var minHits int
	var stsb, noGuard bool
	cfg, _, code := loadFlagConfig("cache tune", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&pairsPath, "pairs", "", "labelled pairs: text1<TAB>text2<TAB>label (1 = the same answer serves both)")
		fs.BoolVar(&stsb, "stsb", false, "read --pairs in the STS Benchmark format (score >= 4 counts as the same)")
		fs.Float64Var(&target, "precision", 0.99, "precision to keep, in (0, 1]")
		fs.Float64Var(&target, "target", 0.99, "same as -precision")
		fs.IntVar(&minHits, "min-hits", 0, "fewest hits a recommended threshold needs; 0 = max(20, ceil(1/(1-precision))), 100 at 0.99")
		fs.Float64Var(&from, "from", 0.50, "lowest threshold to try")
		fs.Float64Var(&to, "to", 1.00, "highest threshold to try")
		fs.Float64Var(&step, "step", 0.01, "threshold step")
		fs.BoolVar(&noGuard, "no-guard", false, "measure without the number/entity/negation guard")
	})
	if cfg == nil {
		return code
	}
	if pairsPath == "" {
		fmt.Fprintln(stderr, "llmrouter cache tune: --pairs FILE is required")
		return 2
	}
	if target <= 0 || target > 1 || minHits < 0 || step <= 0 || from > to {
		fmt.Fprintln(stderr, "llmrouter cache tune: -precision must be in (0, 1], -min-hits >= 0, -step > 0 and -from <= -to")
		return 2
	}
	f, err := os.Open(pairsPath)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter cache tune: %v\n", err)
		return 1
	}
	defer f.Close()
	var pairs []tune.Pair
	if stsb {
		pairs, err = tune.ReadSTSB(f, tune.DefaultSTSBMinScore)
	} else {
		pairs, err = tune.ReadPairs(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter cache tune: %s: %v\n", pairsPath, err)
		return 1
	}
	e, err := newEmbedder(cfg.Cache.Embedder)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter cache tune: %v\n", err)
		return 1
	}
	if c, ok := e.(interface{ Close() error }); ok {
		defer c.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rows, err := tune.Evaluate(ctx, e, pairs, tune.Thresholds(from, to, step), !noGuard)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter cache tune: %v\n", err)
		return 1
	}
	rec := tune.Recommend(rows, target, minHits)
	fmt.Fprintf(stdout, "embedder %s, %d pairs, guard %v, configured threshold %.3f, target precision %.4g on at least %d hits\n",
		e.Name(), len(pairs), !noGuard, configuredThreshold(cfg), target, rec.Need)
	if err := tune.Write(stdout, rows, rec); err != nil {
		return 1
	}
	if !rec.OK() {
		return 1
	}
	return 0
}

// checkBuild runs build on cfg (plus the embedder's constructor when the
// semantic cache is on) and releases what it made.
func checkBuild(cfg *config.Config) error {
	log := slog.New(slog.DiscardHandler)
	if _, err := build(cfg, nil, log); err != nil {
		return err
	}
	if cfg.Cache.Semantic.Enabled {
		e, err := newEmbedder(cfg.Cache.Embedder)
		if err != nil {
			return err
		}
		if c, ok := e.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	return nil
}

func configuredThreshold(cfg *config.Config) float64 {
	if t := cfg.Cache.Semantic.Threshold; t > 0 {
		return t
	}
	return defaultThreshold(cfg.Cache.Embedder.Type)
}

// healthcheckCmd exits 0 when GET /healthz answers 200 (the Docker
// HEALTHCHECK; the image has no curl). It probes -url when given, else
// /healthz on the config file's server.listen port on this host.
func healthcheckCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmrouter healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "YAML config file whose server.listen is probed")
	url := fs.String("url", "", "health URL (overrides -config), e.g. http://127.0.0.1:8080/healthz")
	timeout := fs.Duration("timeout", 2*time.Second, "deadline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		listen, err := config.ListenAddress(*path)
		if err == nil {
			*url, err = config.LocalURL(listen)
		}
		if err != nil {
			fmt.Fprintf(stderr, "llmrouter healthcheck: %v\n", err)
			return 2
		}
		*url += "/healthz"
	}
	status, _, err := fasthttp.GetTimeout(nil, *url, *timeout)
	if err != nil || status != fasthttp.StatusOK {
		fmt.Fprintf(stderr, "unhealthy: status %d, err %v\n", status, err)
		return 1
	}
	return 0
}
