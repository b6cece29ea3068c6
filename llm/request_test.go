package llm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRequestRoundTripKeepsUnknownFields(t *testing.T) {
	in := `{"model":"auto","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"stop":"END","temperature":0,"reasoning_effort":"low","metadata":{"a":1}}`
	var r Request
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.Temperature == nil || *r.Temperature != 0 {
		t.Fatalf("temperature 0 must stay set, got %v", r.Temperature)
	}
	if len(r.Stop) != 1 || r.Stop[0] != "END" {
		t.Fatalf("stop = %v", r.Stop)
	}
	if !r.Messages[1].Content.HasImage() || r.LastUserText() != "hi" {
		t.Fatalf("content parts lost: %+v", r.Messages[1].Content)
	}
	out, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"reasoning_effort":"low"`, `"metadata":{"a":1}`, `"temperature":0`, `"stop":["END"]`, `"content":"be brief"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled request lacks %s: %s", want, out)
		}
	}
}

func TestRequestDecodeErrorsNameTheParam(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"temperature string", `{"model":"m","messages":[],"temperature":"hot"}`, "temperature"},
		{"messages object", `{"model":"m","messages":{}}`, "messages"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages"},
		{"not an object", `[1,2]`, ""},
		{"truncated", `{"model":`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := DecodeRequest([]byte(tt.body), &r)
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidRequest {
				t.Fatalf("want *Error invalid_request, got %T %v", err, err)
			}
			if e.Param != tt.param {
				t.Fatalf("param = %q, want %q", e.Param, tt.param)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	got := Redact("upstream said: invalid key sk-proj-abc123XYZ and Bearer tok.en_1")
	if strings.Contains(got, "abc123") || strings.Contains(got, "tok.en") {
		t.Fatalf("secret leaked: %s", got)
	}
}
