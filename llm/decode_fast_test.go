package llm

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestUnknownFieldsFoundByKeyScan(t *testing.T) {
	tests := []struct {
		name, body string
		extra      []string
	}{
		{"none", `{"model":"m","messages":[{"role":"user","content":"{\"x\":1} , \"y\":"}],"temperature":1}`, nil},
		{"braces in strings", `{"model":"m","messages":[{"role":"user","content":"} ] { ["}],"metadata":{"k":"}"}}`, []string{"metadata"}},
		{"escaped key", `{"model":"m","messages":[],"re\u0061soning":"low"}`, []string{"reasoning"}},
		{"nested unknown only", `{"model":"m","messages":[{"role":"user","content":"hi","cache_control":{"type":"ephemeral"}}]}`, nil},
		{"whitespace", " {\n \"model\" : \"m\" ,\n \"messages\" : [ ] ,\n \"store\" : true \n} ", []string{"store"}},
		{"case-folded known key is not extra", `{"MODEL":"m","messages":[]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := DecodeRequest([]byte(tt.body), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Extra) != len(tt.extra) {
				t.Fatalf("extra = %v, want keys %v", r.Extra, tt.extra)
			}
			for _, k := range tt.extra {
				if _, ok := r.Extra[k]; !ok {
					t.Fatalf("extra lacks %q: %v", k, r.Extra)
				}
			}
		})
	}
}

// FuzzDecodeRequest: decoding never panics, every failure is an
// invalid_request *Error, and a decoded request re-encodes to a fixed point.
// Content's fast paths must agree with encoding/json.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"auto","messages":[{"role":"user","content":"héllo <b> \u2028 \"q\""}],"x":{"a":[1,"}"]}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stop":"s"}`))
	f.Add([]byte(`{"messages":null,"temperature":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		err := DecodeRequest(body, &r)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Kind != KindInvalidRequest {
				t.Fatalf("want invalid_request *Error, got %T %v", err, err)
			}
			return
		}
		out, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var r2 Request
		if err := DecodeRequest(out, &r2); err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		out2, _ := r2.MarshalJSON()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
		for _, m := range r.Messages {
			fast, _ := m.Content.MarshalJSON()
			var want []byte
			switch {
			case m.Content.Parts != nil:
				want, _ = json.Marshal(m.Content.Parts)
			case m.Content.Set:
				want, _ = json.Marshal(m.Content.Str)
			default:
				want = []byte("null")
			}
			if !bytes.Equal(fast, want) {
				t.Fatalf("content fast path %s != encoding/json %s", fast, want)
			}
		}
	})
}
