package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"llmrouter/cache"
	"llmrouter/config"
	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/proxy"
	"llmrouter/reqlog"
	"llmrouter/tracing"
)

// buildObservability starts the tracer and the request log that cfg asks
// for and wires them into the proxy options.
func (a *app) buildObservability(ctx context.Context, cfg *config.Config, popts *proxy.Options) error {
	if t := cfg.Tracing; t.Enabled {
		tr, err := tracing.New(ctx, tracing.Options{Endpoint: t.Endpoint, Protocol: t.Protocol,
			SampleRatio: t.SampleRatio, ServiceName: t.ServiceName})
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		a.tracer = tr
		popts.Tracer = tr
		popts.TraceContent = t.CaptureContent
		if t.CaptureContent {
			a.log.Warn("tracing.capture_content is on: prompt and answer text go to the trace collector")
		}
	}
	rc := cfg.RequestLog
	if !rc.On() {
		return nil
	}
	o := reqlog.Options{MaxRows: rc.MaxRows, QueueSize: rc.QueueSize, BatchSize: rc.BatchSize,
		FlushInterval: rc.FlushInterval, Retention: *rc.Retention, Logger: a.log, Registerer: a.reg}
	if cfg.Database.URL != "" {
		pool, err := a.databasePool(ctx, cfg)
		if err != nil {
			return err
		}
		o.Store = reqlog.NewPGStore(pool, func(ctx context.Context) error { return migrations.Apply(ctx, pool, "") })
	}
	l, err := reqlog.New(o)
	if err != nil {
		return fmt.Errorf("request_log: %w", err)
	}
	a.reqlog = l
	popts.RequestLog = l.Record
	popts.Requests = a.requests
	return nil
}

// databasePool returns the shared pool, opening it when the semantic cache
// did not.
func (a *app) databasePool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	pool, err := cache.OpenPool(ctx, cfg.Database.URL, cache.PoolOptions{
		MaxConns: int32(cfg.Database.MaxConns), ConnectTimeout: cfg.Database.ConnectTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a.pool = pool
	return pool, nil
}

// requests answers GET /admin/requests from the request log.
func (a *app) requests(ctx context.Context, tenant string, all bool, query url.Values) (any, error) {
	q, err := reqlog.ParseQuery(query)
	if err != nil {
		var qe *reqlog.QueryError
		if errors.As(err, &qe) {
			return nil, &llm.Error{Kind: llm.KindInvalidRequest, Param: qe.Param, Message: qe.Error()}
		}
		return nil, err
	}
	if !all {
		q.Tenant = tenant
	}
	p, err := a.reqlog.Query(ctx, q)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Message: "the request log is unavailable", Err: err}
	}
	return p, nil
}
