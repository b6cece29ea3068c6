package llm

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
)

// Redacted replaces a secret's value wherever a Redactor finds it.
const Redacted = "[redacted]"

// MinSecretLen is the shortest value a Redactor registers: shorter values
// would match ordinary words and garble text.
const MinSecretLen = 6

// Redactor replaces the exact values of registered secrets (provider keys,
// secret header values, client and admin keys, database passwords) with
// Redacted. It is the one redactor every log attribute, client error
// message and metric label passes through. Set swaps the secrets (a
// reload); a nil *Redactor redacts nothing. Safe for concurrent use.
type Redactor struct {
	secrets atomic.Pointer[[]string]
}

// NewRedactor returns a Redactor for secrets (see Set).
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Set(secrets)
	return r
}

// Set registers secrets, replacing the previous set. Values shorter than
// MinSecretLen and duplicates are ignored; longer values are matched first,
// so a secret that contains another is replaced whole.
func (r *Redactor) Set(secrets []string) {
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if len(s) >= MinSecretLen && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	r.secrets.Store(&out)
}

// Redact returns s with every registered secret replaced by Redacted. It
// does not allocate when s holds none.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	p := r.secrets.Load()
	if p == nil {
		return s
	}
	for _, sec := range *p {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Handler wraps h so that the message and every attribute of every record
// (strings, errors, any value formatted as text, inside groups too) pass
// through r before h sees them.
func (r *Redactor) Handler(h slog.Handler) slog.Handler { return &redactingHandler{r: r, next: h} }

type redactingHandler struct {
	r    *Redactor
	next slog.Handler
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactingHandler{r: h.r, next: h.next.WithAttrs(red)}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{r: h.r, next: h.next.WithGroup(name)}
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.r.Redact(x.Error()))
		case []string:
			red := make([]string, len(x))
			for i, s := range x {
				red[i] = h.r.Redact(s)
			}
			return slog.Any(a.Key, red)
		default:
			return slog.String(a.Key, h.r.Redact(v.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
