package llm

import (
	"strings"
	"testing"
)

func repeatJSON(v string, n int) string {
	return strings.TrimSuffix(strings.Repeat(v+",", n), ",")
}

func TestCheckBody(t *testing.T) {
	l := Limits{MaxMessages: 3, MaxTools: 2, MaxStop: 2, MaxContentParts: 2, MaxToolCalls: 1}
	msg := `{"role":"user","content":"hi"}`
	tests := []struct {
		name, body string
		f          BodyFields
		param      string // "" means accepted
	}{
		{"within limits", `{"model":"m","messages":[` + repeatJSON(msg, 3) + `],"tools":[{},{}],"stop":["a","b"]}`, ChatBodyFields, ""},
		{"too many messages", `{"model":"m","messages":[` + repeatJSON(msg, 4) + `]}`, ChatBodyFields, "messages"},
		{"escaped key", `{"model":"m","\u006dessages":[` + repeatJSON(msg, 4) + `]}`, ChatBodyFields, "messages"},
		{"key in another case", `{"model":"m","Messages":[` + repeatJSON(msg, 4) + `]}`, ChatBodyFields, "messages"},
		{"brackets inside strings", `{"messages":[{"role":"user","content":"[[[{{\"],]"}],"x":"]]]","stop":["]","["]}`, ChatBodyFields, ""},
		{"nested arrays are one element", `{"messages":[{"role":"user","content":[{"type":"text","text":"a","x":[1,[2,3]]},{"type":"text","text":"b"}]}]}`, ChatBodyFields, ""},
		{"too many parts", `{"messages":[` + msg + `,{"role":"user","content":[{},{},{}]}]}`, ChatBodyFields, "messages[1].content"},
		{"too many tool calls", `{"messages":[{"role":"assistant","tool_calls":[{},{}]}]}`, ChatBodyFields, "messages[0].tool_calls"},
		{"too many tools", `{"tools":[{},{},{}],"messages":[]}`, ChatBodyFields, "tools"},
		{"too many stop strings", `{"stop":["a","b","c"]}`, ChatBodyFields, "stop"},
		{"stop as a string", `{"stop":"abc"}`, ChatBodyFields, ""},
		{"anthropic stop_sequences", `{"stop_sequences":["a","b","c"]}`, MessagesBodyFields, "stop_sequences"},
		{"anthropic ignores stop", `{"stop":["a","b","c"]}`, MessagesBodyFields, ""},
		{"responses input", `{"input":[` + repeatJSON(msg, 4) + `]}`, ResponsesBodyFields, "input"},
		{"responses input string", `{"input":"hello"}`, ResponsesBodyFields, ""},
		{"nested key of the same name is not counted", `{"metadata":{"messages":[1,2,3,4,5]},"messages":[]}`, ChatBodyFields, ""},
		{"whitespace everywhere", " {\n \"messages\" : [ " + repeatJSON(msg, 4) + " ] } ", ChatBodyFields, "messages"},
		{"malformed is left to the decoder", `{"messages":[` + repeatJSON(msg, 2), ChatBodyFields, ""},
		{"not an object", `[1,2,3]`, ChatBodyFields, ""},
		{"empty", ``, ChatBodyFields, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := l.CheckBody([]byte(tt.body), tt.f)
			switch {
			case tt.param == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tt.param != "" && e == nil:
				t.Fatal("accepted")
			case e != nil && (e.Param != tt.param || e.Code != "limit_exceeded" || e.Kind != KindInvalidRequest):
				t.Fatalf("error %+v, want param %s", e, tt.param)
			}
		})
	}
}

// TestCheckBodyAgreesWithCheck: on bodies that decode, CheckBody refuses
// exactly what Check refuses on the decoded request (for what it counts).
func TestCheckBodyAgreesWithCheck(t *testing.T) {
	l := Limits{MaxMessages: 2, MaxTools: 1, MaxStop: 1, MaxContentParts: 1, MaxToolCalls: 1, MaxN: -1, MaxOutputTokens: -1, MaxStopBytes: -1}
	msg := `{"role":"user","content":"a"}`
	for _, body := range []string{
		`{"model":"m","messages":[` + msg + `]}`,
		`{"model":"m","messages":[` + repeatJSON(msg, 3) + `]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		`{"model":"m","messages":[` + msg + `],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}]}`,
		`{"model":"m","messages":[` + msg + `],"stop":["x","y"]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"2","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
	} {
		var r Request
		if err := DecodeRequest([]byte(body), &r); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want, got := l.Check(&r), l.CheckBody([]byte(body), ChatBodyFields)
		if (want == nil) != (got == nil) || want != nil && want.Param != got.Param {
			t.Errorf("%s: Check %v, CheckBody %v", body, want, got)
		}
	}
}

func TestCheckBodyDoesNotAllocate(t *testing.T) {
	l := Limits{}.WithDefaults()
	body := []byte(`{"model":"auto","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello [there]"}]}],"stop":["\n"],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	if n := testing.AllocsPerRun(100, func() {
		if e := l.CheckBody(body, ChatBodyFields); e != nil {
			t.Fatal(e)
		}
	}); n != 0 {
		t.Fatalf("CheckBody allocates %v times per accepted body", n)
	}
}

// FuzzCheckBody: CheckBody never panics, and never refuses a body that
// decodes into a request Check accepts.
func FuzzCheckBody(f *testing.F) {
	for _, s := range []string{`{"model":"m","messages":[{"role":"user","content":"a"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"]"}]}],"stop":["a"]}`,
		`{"messages":[1,2,3],"tools":[{}],"stop":"x"}`, `{"\u006dessages":[[],[]]}`, `{"messages":[{"tool_calls":[{},{}]}]}`} {
		f.Add([]byte(s))
	}
	l := Limits{MaxMessages: 2, MaxTools: 1, MaxStop: 1, MaxContentParts: 1, MaxToolCalls: 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := l.CheckBody(b, ChatBodyFields)
		var r Request
		if e != nil && DecodeRequest(b, &r) == nil && l.Check(&r) == nil {
			t.Fatalf("CheckBody refused (%v) a body Check accepts: %q", e, b)
		}
	})
}

// BenchmarkCheckBodyVsDecode compares the pre-decode count with the decode
// it precedes, on a typical chat body (report CheckBody as a share of
// DecodeRequest measured in the same run).
func BenchmarkCheckBodyVsDecode(b *testing.B) {
	body := []byte(`{"model":"auto","temperature":0.2,"max_tokens":256,"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},` +
		`{"role":"user","content":"What is the difference between a process and a thread?"},{"role":"assistant","content":"A process has its own memory; threads share it."},` +
		`{"role":"user","content":[{"type":"text","text":"And how do goroutines fit in? Give an example."}]}],"stop":["\n\n"]}`)
	l := Limits{}.WithDefaults()
	b.Run("CheckBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if l.CheckBody(body, ChatBodyFields) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("DecodeRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r Request
			if err := DecodeRequest(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
