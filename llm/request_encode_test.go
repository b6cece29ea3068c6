package llm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// reflectRequestFields is what Request.MarshalJSON encoded its known
// fields with before the messages were written by hand.
func reflectRequestFields(r *Request) ([]byte, error) { return json.Marshal((*requestFields)(r)) }

var requestEncodingSeeds = []string{
	`{"model":"auto","messages":[{"role":"user","content":"héllo <b> \u2028 \"q\" & done"}],"x":{"a":[1,"}"]}}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a <i>","cache_control":{ "type" : "ephemeral" }},{"type":"image_url","image_url":{"url":"http://x/?a=1&b=2"}}]}],"stop":"s"}`,
	`{"model":"m","messages":[{"role":"system","content":"s","name":"n<"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":\"<x>\"}"}}],"refusal":"no &"},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{ "type":"auto" }}`,
	`{"model":"m","messages":[{"role":"assistant","content":"x","reasoning_content":"think \u0001","thinking_blocks":[{"type":"thinking","thinking":"t","signature":"s<"}],"cache_control":{"type":"ephemeral", "ttl":"1h"},"audio":{ "id" : "a<b>" },"zeta":[1, 2],"alpha":"\u2029"}]}`,
	`{"model":"m","messages":[]}`,
	`{"model":"m"}`,
	`{"model":"\u003c\"messages\":null","messages":[{"role":"user","content":""}],"response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"messages":null}}}},"temperature":0.2,"max_tokens":64,"user":"u","metadata":{"k":"v"}}`,
	`{"model":"m","messages":[{"role":"user","content":"bad \ud800 surrogate"}]}`,
}

// FuzzRequestEncodingMatchesReflection: the hand-written message encoder
// writes exactly the bytes encoding/json wrote (json.Marshal of the
// request's fields through Message.MarshalJSON), for any decodable request.
func FuzzRequestEncodingMatchesReflection(f *testing.F) {
	for _, s := range requestEncodingSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if DecodeRequest(body, &r) != nil {
			return
		}
		got, err1 := marshalRequestFields(&r)
		want, err2 := reflectRequestFields(&r)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(got, want) {
			t.Fatalf("hand encoder:\n%s (%v)\nencoding/json:\n%s (%v)", got, err1, want, err2)
		}
	})
}

func TestRequestEncodingMatchesReflectionOnBuiltRequests(t *testing.T) {
	for name, r := range map[string]*Request{
		"nil messages":   {Model: "m"},
		"empty messages": {Model: "m", Messages: []Message{}},
		"extras only":    {Model: "m", Messages: []Message{{Role: "user", MessageExtras: &MessageExtras{}}}},
		"empty content":  {Model: "m", Messages: []Message{{Role: "user", Content: Content{Parts: []ContentPart{}}}}},
		"invalid utf8":   {Model: "m", Messages: []Message{{Role: "us\xffer", Content: TextContent("a\xffb"), Name: "\u2028"}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err1 := marshalRequestFields(r)
			want, err2 := reflectRequestFields(r)
			if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
				t.Fatalf("hand encoder:\n%s (%v)\nencoding/json:\n%s (%v)", got, err1, want, err2)
			}
		})
	}
}

// BenchmarkRequestEncode: the upstream encode of the ~1 KB bench request,
// encoding/json's reflection path against the hand-written messages.
func BenchmarkRequestEncode(b *testing.B) {
	body := []byte(`{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"Summarise this text in one sentence: ` +
		string(bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 18)) + `"}],"temperature":0.2,"max_tokens":64}`)
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		b.Fatal(err)
	}
	for name, enc := range map[string]func(*Request) ([]byte, error){"reflect": reflectRequestFields, "hand": marshalRequestFields} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
