package llm

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// TestDecodeMatchesGolden pins what DecodeRequest makes of awkward bodies
// (errors, unknown message members, case-folded and escaped keys): the
// golden file was written by the decoder before messages were decoded in
// the request's own pass, and the outputs must not change.
func TestDecodeMatchesGolden(t *testing.T) {
	bodies := []string{
		`{"model":"m","messages":["hi"]}`, `{"model":"m","messages":[1]}`, `{"model":"m","messages":[{"role":1}]}`,
		`{"model":"m","messages":[{"role":"user","content":5}]}`, `{"model":"m","messages":[{"role":"user","content":[{"type":1}]}]}`,
		`{"model":"m","messages":[{"role":"user","tool_calls":"x"}]}`, `{"model":"m","messages":[{"role":"user","name":["x"]}]}`,
		`{"model":"m","messages":{"role":"user"}}`, `{"model":"m","messages":[null]}`, `{"model":"m","messages":[{"role":"user","thinking_blocks":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","cache_control":5,"zz":1}]}`, `{"model":"m","messages":[{"ROLE":"user","Content":"x","zz":{"a": 1}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x","refusal":3}]}`, `{"model":"m","messages":[{"role":"user"},{"role":"assistant","tool_calls":[{"function":{"arguments":1}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"a"} , { "role" : "x" , "extra" : [ 1 ] }]}`, `{"model":"m","messages":[{"role":"user","\u0072ole2":1}]}`,
		`{"model":"m","temperature":"x","messages":[]}`, `{"model":1}`, `{"model":"m","tools":"x"}`, `{"model":"m","stream_options":{"include_usage":"y"}}`,
		`{"model":"m","\u006dessages":[{"role":"user","zz":1}]}`, `{"model":"m","MESSAGES":[{"role":"user","zz":1}]}`,
		`{"model":"m","messages":[{"role":"user","aa":1}],"Messages":[{"role":"x","zz":2},{"role":"y","yy":3}]}`,
		`{"model":"m","Messages":[{"role":"x","zz":2},{"role":"y"}],"messages":[{"role":"user","aa":1}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","pp":1}],"zz":[{"a":"]"}]}],"tail":{"x":"}"}}`,
		`{"model":"m","messages":[]}`, `{"model":"m","messages":null}`, `{"messages":[{"role":"user","zz":"\"]}"}],"model":"m"}`,
	}
	var f bytes.Buffer
	for _, b := range bodies {
		var r Request
		err := DecodeRequest([]byte(b), &r)
		fmt.Fprintf(&f, "%s\n  err=%v\n", b, err)
		if err == nil {
			out, _ := r.MarshalJSON()
			fmt.Fprintf(&f, "  out=%s\n  extras=", out)
			for _, m := range r.Messages {
				fmt.Fprintf(&f, "%v;", m.Extra)
			}
			fmt.Fprintln(&f)
		}
	}
	want, err := os.ReadFile("testdata/decode-golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != string(want) {
		t.Fatalf("decoding changed:\n%s\nwant:\n%s", f.String(), want)
	}
}
