package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"llmrouter/config"
)

// serveCmd runs the proxy until SIGTERM or SIGINT; SIGHUP reloads the
// config file.
func serveCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmrouter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "YAML config file")
	listen := fs.String("listen", "", "listen address, overriding server.listen (default :8080)")
	debugAddr := fs.String("debug-addr", "", "if set, serve Go's /debug/pprof on this separate address (e.g. 127.0.0.1:6060); never expose it")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter: %v\n", err)
		return 1
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	logw := newLogWriter(stderr, 100*time.Millisecond)
	defer logw.Close()
	log := newLogger(logw, cfg.Log.Level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	a, err := newApp(startCtx, cfg, log)
	cancel()
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Server.Listen, "err", err)
		_ = a.close()
		return 1
	}
	logStartup(log, cfg, *path, ln.Addr().String())
	if *debugAddr != "" {
		stopDebug := serveDebug(*debugAddr, log)
		defer stopDebug()
	}

	served := make(chan error, 1)
	go func() { served <- a.proxy.Serve(ln) }()
	for {
		select {
		case <-hup:
			next, err := config.Load(*path, os.Getenv)
			if err == nil && *listen != "" {
				next.Server.Listen = *listen // the flag still wins; without this a reload "changed" server
			}
			if err == nil {
				err = a.reload(next)
			}
			if err != nil {
				log.Error("config reload failed; keeping the running config", "path", *path, "err", err)
				continue
			}
			log.Info("config reloaded", "path", *path)
		case err := <-served:
			if err != nil {
				log.Error("server stopped", "err", err)
			}
			_ = a.close()
			return 1
		case <-ctx.Done():
			log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
			err := a.proxy.Shutdown(sctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				log.Error("shutdown", "err", err)
			}
			if err := a.close(); err != nil {
				log.Error("closing background workers", "err", err)
			}
			log.Info("stopped")
			return 0
		}
	}
}

// serveDebug serves net/http/pprof on its own listener, apart from the
// proxy's routes, for profiling a live process. It returns a stop function.
func serveDebug(addr string, log *slog.Logger) func() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug listener failed", "addr", addr, "err", err)
		}
	}()
	log.Warn("pprof debug listener on; keep it off public networks", "addr", addr)
	return func() { _ = srv.Close() }
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// logStartup says how this process runs: which providers are real, whether
// there is a database, whether clients must authenticate.
func logStartup(log *slog.Logger, cfg *config.Config, path, addr string) {
	var sims, real []string
	for _, p := range cfg.Providers {
		if p.Type == config.ProviderSimulator {
			sims = append(sims, p.Name)
		} else {
			real = append(real, p.Name+" ("+p.Type+")")
		}
	}
	mode := "real providers"
	if len(real) == 0 {
		mode = "offline: built-in simulator providers only, no API keys needed"
	}
	storage := "database: none; semantic cache in process, usage in memory"
	if cfg.Database.URL != "" {
		storage = "database: PostgreSQL (semantic cache on pgvector; it comes up when the database answers)"
	}
	log.Info("llmrouter listening",
		"addr", addr, "config", path, "mode", mode,
		"providers", strings.Join(append(real, sims...), ", "),
		"storage", storage,
		"exact_cache", cfg.Cache.Exact.Enabled, "semantic_cache", cfg.Cache.Semantic.Enabled,
		"embedder", cfg.Cache.Embedder.Type, "auth", cfg.Auth.Mode)
}
