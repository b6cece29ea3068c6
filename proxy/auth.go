package proxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// AuthOptions says who may call the proxy.
type AuthOptions struct {
	// Mode is "keys" (the default when empty: every /v1 request needs one of
	// Keys) or "none" (no client authentication; every request has tenant
	// ""; New logs a warning).
	Mode string
	// Keys are the client keys, one tenant each. In mode "keys" at least
	// one is required. A key value must not appear twice.
	Keys []Key
	// AdminKeys may call /admin/... endpoints. Their Tenant is the admin's
	// own namespace (the default target of cache invalidation).
	AdminKeys []Key
}

// Key is one accepted API key.
type Key struct {
	// Tenant names who the key belongs to; it scopes cache entries and
	// usage. Required.
	Tenant string
	// Value is the key as clients send it (read from the environment), or
	// its SHA-256 digest written as "sha256:<64 hex digits>" or as bare 64
	// hex digits. A plain key that is itself 64 hex digits must therefore
	// be given in hashed form. Keys are compared by SHA-256 digest, never
	// by their text, and never logged.
	Value string
	// AllowTierOverride lets this key choose its tier with the
	// x-llmrouter-tier header; without it the header is ignored.
	AllowTierOverride bool
	// MaxTier caps the tier this key may ask for with the header;
	// llm.TierUnset means no cap.
	MaxTier llm.Tier
}

// principal is an authenticated caller.
type principal struct {
	digest        [sha256.Size]byte
	tenant        string
	allowOverride bool
	maxTier       llm.Tier
}

// authTable is the immutable snapshot that SetAuth swaps in.
type authTable struct {
	none   bool
	keys   map[[sha256.Size]byte]*principal
	admins map[[sha256.Size]byte]*principal
	byName map[string]*principal // tenant -> principal of its first key
}

// anonymous is the caller in auth mode "none". It may not choose its tier:
// x-llmrouter-tier is a privilege granted per key (allow_tier_override), and
// without keys nobody holds it.
var anonymous = &principal{}

func buildAuth(o AuthOptions) (*authTable, error) {
	t := &authTable{byName: map[string]*principal{}}
	switch o.Mode {
	case "", "keys":
		if len(o.Keys) == 0 {
			return nil, errors.New("proxy: auth mode \"keys\" needs at least one key")
		}
	case "none":
		t.none = true
	default:
		return nil, fmt.Errorf("proxy: unknown auth mode %q (want \"keys\" or \"none\")", o.Mode)
	}
	var err error
	if t.keys, err = hashKeys(o.Keys, "keys", t.byName); err != nil {
		return nil, err
	}
	if t.admins, err = hashKeys(o.AdminKeys, "admin_keys", nil); err != nil {
		return nil, err
	}
	return t, nil
}

func hashKeys(keys []Key, field string, byName map[string]*principal) (map[[sha256.Size]byte]*principal, error) {
	m := make(map[[sha256.Size]byte]*principal, len(keys))
	for i, k := range keys {
		if k.Tenant == "" {
			return nil, fmt.Errorf("proxy: %s[%d]: tenant is required", field, i)
		}
		if k.Value == "" {
			return nil, fmt.Errorf("proxy: %s[%d] (tenant %q): empty key value", field, i, k.Tenant)
		}
		sum, err := keyDigest(k.Value)
		if err != nil {
			return nil, fmt.Errorf("proxy: %s[%d] (tenant %q): %w", field, i, k.Tenant, err)
		}
		if _, dup := m[sum]; dup {
			return nil, fmt.Errorf("proxy: %s[%d] (tenant %q): the same key is configured twice", field, i, k.Tenant)
		}
		p := &principal{digest: sum, tenant: k.Tenant, allowOverride: k.AllowTierOverride, maxTier: k.MaxTier}
		m[sum] = p
		if byName != nil {
			if _, ok := byName[k.Tenant]; !ok {
				byName[k.Tenant] = p
			}
		}
	}
	return m, nil
}

// keyDigest returns the SHA-256 digest a configured key value stands for.
func keyDigest(v string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, explicit := strings.CutPrefix(v, "sha256:")
	if explicit || isHex64(v) {
		if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil || len(hexPart) != 2*sha256.Size {
			return sum, errors.New("malformed sha256 key digest")
		}
		return sum, nil
	}
	return sha256.Sum256([]byte(v)), nil
}

func isHex64(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// presentedKey returns the client's key from Authorization: Bearer, api-key
// or x-api-key, or nil. The slice is only valid during the handler.
func presentedKey(h *fasthttp.RequestHeader) []byte {
	if v := h.PeekBytes(hdrAuthorization); len(v) > 0 {
		if len(v) > 7 && bytes.EqualFold(v[:7], []byte("bearer ")) {
			return bytes.TrimSpace(v[7:])
		}
		return nil
	}
	if v := h.PeekBytes(hdrAPIKey); len(v) > 0 {
		return bytes.TrimSpace(v)
	}
	if v := h.PeekBytes(hdrXAPIKey); len(v) > 0 {
		return bytes.TrimSpace(v)
	}
	return nil
}

// lookup finds the principal for a presented key in m. The map is keyed by
// the key's SHA-256 digest, so lookup time says nothing an attacker can use
// about any configured key; the final comparison is constant-time anyway.
func lookup(m map[[sha256.Size]byte]*principal, key []byte) *principal {
	if len(key) == 0 {
		return nil
	}
	sum := sha256.Sum256(key)
	p, ok := m[sum]
	if !ok || subtle.ConstantTimeCompare(p.digest[:], sum[:]) != 1 {
		return nil
	}
	return p
}

var (
	errMissingKey = &llm.Error{Kind: llm.KindUnauthenticated, Code: llm.CodeInvalidAPIKey,
		Message: "you didn't provide an api key; send it as 'Authorization: Bearer <key>'"}
	errBadKey = &llm.Error{Kind: llm.KindUnauthenticated, Code: llm.CodeInvalidAPIKey,
		Message: "incorrect api key provided"}
	errNotAdmin = &llm.Error{Kind: llm.KindForbidden, Code: "permission_denied",
		Message: "this endpoint needs an admin key"}
)

// authenticate returns the caller of a /v1 request or an unauthenticated
// error.
func (t *authTable) authenticate(h *fasthttp.RequestHeader) (*principal, *llm.Error) {
	if t.none {
		return anonymous, nil
	}
	key := presentedKey(h)
	if len(key) == 0 {
		return nil, errMissingKey
	}
	if p := lookup(t.keys, key); p != nil {
		return p, nil
	}
	if p := lookup(t.admins, key); p != nil { // admins may use the API too
		return p, nil
	}
	return nil, errBadKey
}

// authenticateAdmin returns the admin caller. In mode "none" with no admin
// keys configured every caller is an admin of tenant "".
func (t *authTable) authenticateAdmin(h *fasthttp.RequestHeader) (*principal, *llm.Error) {
	key := presentedKey(h)
	if len(key) == 0 {
		if t.none && len(t.admins) == 0 {
			return anonymous, nil
		}
		return nil, errMissingKey
	}
	if p := lookup(t.admins, key); p != nil {
		return p, nil
	}
	if p := lookup(t.keys, key); p != nil {
		return nil, errNotAdmin
	}
	if t.none && len(t.admins) == 0 {
		return anonymous, nil
	}
	return nil, errBadKey
}
