package governance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"llmrouter/llm"
)

// Key is a virtual key. Its plaintext is never stored: only its SHA-256
// digest and a short prefix for people to recognise it.
type Key struct {
	ID      string
	Name    string
	Tenant  string
	Prefix  string // the first characters of the plaintext ("sk-lr-abcd")
	Models  []string
	MaxTier llm.Tier
	Budget  Budget
	RPM     int // requests per minute; 0 = unlimited
	TPM     int // tokens per minute; 0 = unlimited
	Created time.Time
	Revoked *time.Time
	digest  [sha256.Size]byte
}

// KeyView is a key as /admin/keys shows it (amounts in dollars).
type KeyView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Tenant    string     `json:"tenant"`
	Prefix    string     `json:"key_prefix"`
	Models    []string   `json:"models"`
	MaxTier   string     `json:"max_tier"`
	DailyUSD  float64    `json:"daily_budget_usd"`
	Monthly   float64    `json:"monthly_budget_usd"`
	RPM       int        `json:"rpm"`
	TPM       int        `json:"tpm"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	// Key is the plaintext, present only in the answer to the creation.
	Key string `json:"key,omitempty"`
}

func (k *Key) view() KeyView {
	return KeyView{ID: k.ID, Name: k.Name, Tenant: k.Tenant, Prefix: k.Prefix, Models: append([]string{}, k.Models...),
		MaxTier: k.MaxTier.String(), DailyUSD: float64(k.Budget.DailyMicro) / 1e6, Monthly: float64(k.Budget.MonthlyMicro) / 1e6,
		RPM: k.RPM, TPM: k.TPM, CreatedAt: k.Created, RevokedAt: k.Revoked}
}

// CreateRequest is the body of POST /admin/keys.
type CreateRequest struct {
	Name       string   `json:"name"`
	Tenant     string   `json:"tenant"`
	Models     []string `json:"models"`
	MaxTier    string   `json:"max_tier"`
	DailyUSD   float64  `json:"daily_budget_usd"`
	MonthlyUSD float64  `json:"monthly_budget_usd"`
	RPM        int      `json:"rpm"`
	TPM        int      `json:"tpm"`
}

var errNoDB = &llm.Error{Kind: llm.KindInvalidRequest, Code: "virtual_keys_unavailable",
	Message: "virtual keys need a database (database.url); this proxy has none"}

func invalid(param, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Message: msg}
}

func usd(param string, v float64) (int64, *llm.Error) {
	if !(v >= 0) || math.IsInf(v, 0) || v > 1e9 {
		return 0, invalid(param, param+" must be a non-negative number of US dollars (0 = no budget)")
	}
	return int64(math.Round(v * 1e6)), nil
}

// CreateKey creates a virtual key from a CreateRequest JSON body and
// returns its view with the plaintext key (shown this once). Other
// replicas accept it from their next sync.
func (g *Governor) CreateKey(ctx context.Context, body []byte) (any, error) {
	if g.o.Pool == nil {
		return nil, errNoDB
	}
	if err := g.setup(ctx); err != nil {
		return nil, fmt.Errorf("governance: %w", err)
	}
	var r CreateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, invalid("", "invalid key request: "+err.Error())
	}
	if strings.TrimSpace(r.Tenant) == "" || len(r.Tenant) > 200 {
		return nil, invalid("tenant", "tenant is required (at most 200 bytes)")
	}
	if len(r.Name) > 200 || len(r.Models) > 100 {
		return nil, invalid("name", "name is at most 200 bytes and models at most 100 names")
	}
	k := Key{Name: r.Name, Tenant: r.Tenant, Models: r.Models, RPM: r.RPM, TPM: r.TPM}
	if k.Models == nil {
		k.Models = []string{}
	}
	if r.MaxTier != "" {
		t, ok := llm.ParseTier(r.MaxTier)
		if !ok {
			return nil, invalid("max_tier", "max_tier must be small, medium or large")
		}
		k.MaxTier = t
	}
	if r.RPM < 0 || r.TPM < 0 {
		return nil, invalid("rpm", "rpm and tpm must be non-negative (0 = no limit)")
	}
	var e *llm.Error
	if k.Budget.DailyMicro, e = usd("daily_budget_usd", r.DailyUSD); e != nil {
		return nil, e
	}
	if k.Budget.MonthlyMicro, e = usd("monthly_budget_usd", r.MonthlyUSD); e != nil {
		return nil, e
	}
	var secret, id [16]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(id[:6]); err != nil {
		return nil, err
	}
	plain := "sk-lr-" + hex.EncodeToString(secret[:])
	k.ID = "vk_" + hex.EncodeToString(id[:6])
	k.Prefix = plain[:10]
	k.digest = sha256.Sum256([]byte(plain))
	err := g.o.Pool.QueryRow(ctx, `INSERT INTO virtual_keys (id, digest, prefix, name, tenant, models, max_tier,
 daily_budget_micro, monthly_budget_micro, rpm, tpm) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING created_at`,
		k.ID, k.digest[:], k.Prefix, k.Name, k.Tenant, k.Models, k.MaxTier.String(), k.Budget.DailyMicro,
		k.Budget.MonthlyMicro, k.RPM, k.TPM).Scan(&k.Created)
	if err != nil {
		return nil, fmt.Errorf("governance: create key: %w", err)
	}
	g.install(&k)
	v := k.view()
	v.Key = plain
	return v, nil
}

// install adds k to this replica's snapshot at once (its own creations
// work immediately; others' after a sync).
func (g *Governor) install(k *Key) {
	old := g.keys.Load()
	ns := &keySet{byDigest: make(map[[sha256.Size]byte]*Key, len(old.byDigest)+1), byID: make(map[string]*Key, len(old.byID)+1)}
	for d, v := range old.byDigest {
		ns.byDigest[d] = v
		ns.byID[v.ID] = v
	}
	if k.Revoked == nil {
		ns.byDigest[k.digest] = k
		ns.byID[k.ID] = k
	} else {
		delete(ns.byDigest, k.digest)
		delete(ns.byID, k.ID)
	}
	g.keys.Store(ns)
}

const keyColumns = `id, digest, prefix, name, tenant, models, max_tier, daily_budget_micro, monthly_budget_micro, rpm, tpm, created_at, revoked_at`

func scanKey(row pgx.Row) (*Key, error) {
	var k Key
	var digest []byte
	var tier string
	if err := row.Scan(&k.ID, &digest, &k.Prefix, &k.Name, &k.Tenant, &k.Models, &tier, &k.Budget.DailyMicro,
		&k.Budget.MonthlyMicro, &k.RPM, &k.TPM, &k.Created, &k.Revoked); err != nil {
		return nil, err
	}
	copy(k.digest[:], digest)
	k.MaxTier, _ = llm.ParseTier(tier)
	return &k, nil
}

// loadKeys replaces the snapshot with the live keys in the database.
func (g *Governor) loadKeys(ctx context.Context) error {
	rows, err := g.o.Pool.Query(ctx, `SELECT `+keyColumns+` FROM virtual_keys WHERE revoked_at IS NULL`)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	defer rows.Close()
	ns := &keySet{byDigest: map[[sha256.Size]byte]*Key{}, byID: map[string]*Key{}}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return fmt.Errorf("load keys: %w", err)
		}
		ns.byDigest[k.digest] = k
		ns.byID[k.ID] = k
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	g.keys.Store(ns)
	return nil
}

// ListKeys lists every key, revoked ones included, newest first.
func (g *Governor) ListKeys(ctx context.Context) (any, error) {
	if g.o.Pool == nil {
		return nil, errNoDB
	}
	if err := g.setup(ctx); err != nil {
		return nil, fmt.Errorf("governance: %w", err)
	}
	rows, err := g.o.Pool.Query(ctx, `SELECT `+keyColumns+` FROM virtual_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("governance: list keys: %w", err)
	}
	defer rows.Close()
	out := []KeyView{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("governance: list keys: %w", err)
		}
		out = append(out, k.view())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("governance: list keys: %w", err)
	}
	return map[string]any{"object": "list", "data": out}, nil
}

// RevokeKey revokes the key with this id; this replica refuses it at once,
// the others from their next sync (within SyncInterval).
func (g *Governor) RevokeKey(ctx context.Context, id string) (any, error) {
	if g.o.Pool == nil {
		return nil, errNoDB
	}
	if err := g.setup(ctx); err != nil {
		return nil, fmt.Errorf("governance: %w", err)
	}
	k, err := scanKey(g.o.Pool.QueryRow(ctx, `UPDATE virtual_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING `+keyColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &llm.Error{Kind: llm.KindUnknownModel, Code: "key_not_found", Param: "id", Message: "no key with id " + fmt.Sprintf("%q", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("governance: revoke key: %w", err)
	}
	g.install(k)
	return k.view(), nil
}
