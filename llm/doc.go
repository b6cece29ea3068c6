// Package llm is llmrouter's shared vocabulary: the request, response, chunk
// and usage types (shaped like the OpenAI Chat Completions wire format, which
// is the proxy's public API), routing tiers, the error type with its closed
// set of kinds, and the Completer / Stream interfaces that every layer
// (provider, router, cache, proxy) composes like http.Handler middleware.
//
// It imports only the standard library.
package llm
