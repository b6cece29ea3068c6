package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogWriterFlushesPeriodicallyAndOnClose(t *testing.T) {
	var out syncBuffer
	w := newLogWriter(&out, 10*time.Millisecond)
	if _, err := w.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "first") {
		if time.Now().After(deadline) {
			t.Fatal("buffered line never flushed by the ticker")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w2 := newLogWriter(&out, time.Hour)
	w2.Write([]byte("second\n"))
	if strings.Contains(out.String(), "second") {
		t.Fatal("line written through before any flush")
	}
	if err := w2.Close(); err != nil || !strings.Contains(out.String(), "second") {
		t.Fatalf("Close did not flush: %v %q", err, out.String())
	}
	if err := w2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	w.Close()
}
