// Command benchstdproxy is the standard-library baseline of
// scripts/bench/hotpath.sh: net/http's httputil.ReverseProxy in front of
// one upstream, copying requests and answers without parsing them. The
// difference between it and calling the upstream directly is what any Go
// HTTP proxy costs (a second hop, the wake-up between cores); llmrouter's
// figures are stated against it. It is a benchmark tool, not part of the
// product.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/metrics"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19403", "address to serve on")
	upstream := flag.String("upstream", "http://127.0.0.1:19400", "upstream base URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("benchstdproxy: upstream: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}
	mux := http.NewServeMux()
	mux.Handle("/", rp)
	// /allocs reports the heap objects allocated so far, so that the bench
	// can state allocations per request as it does for llmrouter.
	mux.HandleFunc("/allocs", func(w http.ResponseWriter, _ *http.Request) {
		s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
		metrics.Read(s)
		fmt.Fprintln(w, s[0].Value.Uint64())
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Fatal(srv.ListenAndServe())
}
