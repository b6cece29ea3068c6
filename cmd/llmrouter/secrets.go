package main

import (
	"net/url"

	"llmrouter/config"
)

// configSecrets lists every secret value in cfg for the redactor: provider
// API keys, headers_env values, client and admin keys, the embedder's API
// key and the database password.
func configSecrets(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Providers {
		out = append(out, p.APIKey)
		for h := range p.HeadersEnv {
			out = append(out, p.HeaderValues[h])
		}
	}
	for _, k := range cfg.Auth.Keys {
		out = append(out, k.Key)
	}
	for _, k := range cfg.Auth.AdminKeys {
		out = append(out, k.Key)
	}
	out = append(out, cfg.Cache.Embedder.APIKey)
	if u, err := url.Parse(cfg.Database.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw, url.QueryEscape(pw))
		}
	}
	return out
}
