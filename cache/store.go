package cache

import (
	"context"
	"time"

	"llmrouter/llm"
)

// Store is a semantic-cache backend: an in-process index (NewMemStore) or
// pgvector (NewPGStore). Implementations must be safe for concurrent use and
// must honour ctx deadlines; the Cache treats every error as a miss.
type Store interface {
	// Search returns up to k live (unexpired) entries of tenant and scope
	// whose embedding is nearest to vec by cosine similarity, best first.
	// Entries of other scopes or other tenants must never be returned: the
	// tenant is compared by equality, besides being part of the scope hash.
	Search(ctx context.Context, tenant string, scope Key, vec []float32, k int) ([]Match, error)
	// Insert stores entries (a batch from the background writer).
	Insert(ctx context.Context, entries []Entry) error
	// Purge deletes up to limit expired entries and reports how many.
	Purge(ctx context.Context, limit int) (int, error)
	// Namespaces reads and bumps tenants' namespace versions.
	Namespaces
}

// Namespaces holds one version number per tenant (0 until first bumped).
// Every cache key and scope includes it, so a bump makes all of a tenant's
// earlier entries unreachable at once.
type Namespaces interface {
	// Version returns the tenant's current version.
	Version(ctx context.Context, tenant string) (int64, error)
	// Bump increments the tenant's version and returns the new one.
	Bump(ctx context.Context, tenant string) (int64, error)
}

// Entry is one semantic-cache entry to store.
type Entry struct {
	Scope     Key
	Tenant    string
	Namespace int64  // the tenant's namespace version the entry was made under
	Embedder  string // embedder name; part of Scope too
	Prompt    string // the embedded final user turn, for the guard
	Vec       []float32
	Response  *llm.Response // must not be modified after Insert
	Provider  string
	Expires   time.Time
}

// Match is a search result.
type Match struct {
	Prompt     string
	Similarity float64 // cosine similarity in [-1, 1]
	Response   *llm.Response
	Provider   string
}

// healthReporter is implemented by stores with a remote dependency.
type healthReporter interface {
	Up() bool
}

var errShortEmbed = errorString("embedder returned fewer vectors than texts")

type errorString string

func (e errorString) Error() string { return string(e) }
