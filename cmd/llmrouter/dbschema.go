package main

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationSchema is the schema the migrations create their tables in: the
// first entry of the database URL's search_path (postgres://...?search_path=llm,public),
// so that several deployments, or tests, can share one database each in its
// own schema; "" (public) when the URL sets none. The store's queries use
// unqualified names and so find the same tables through that search_path.
func migrationSchema(dbURL string) string {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return "" // the pool reports the malformed URL
	}
	first, _, _ := strings.Cut(cfg.RuntimeParams["search_path"], ",")
	first = strings.TrimSpace(first)
	if first == "$user" || first == `"$user"` {
		return ""
	}
	return strings.Trim(first, `"`)
}
