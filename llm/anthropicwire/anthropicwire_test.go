package anthropicwire

import (
	"encoding/json"
	"testing"

	"llmrouter/llm"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, body string
		set        map[string]json.RawMessage
		turns      []Turn
		want       string
	}{
		{"replaces in place, keeps every other byte",
			`{ "model" : "alias",  "system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","ttl":"1h"}}], "stream":true ,"x":{"y":[1, 2]}}`,
			map[string]json.RawMessage{"model": json.RawMessage(`"real"`), "stream": json.RawMessage(`false`)}, nil,
			`{ "model" : "real",  "system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","ttl":"1h"}}], "stream":false ,"x":{"y":[1, 2]}}`},
		{"appends what is missing", `{"model":"a"}`, map[string]json.RawMessage{"stream": json.RawMessage(`true`)}, nil, `{"model":"a","stream":true}`},
		{"empty object", `{}`, map[string]json.RawMessage{"model": json.RawMessage(`"m"`)}, nil, `{"model":"m"}`},
		{"appends turns", `{"messages":[{"role":"user","content":"q"}]}`, nil,
			[]Turn{{Role: "assistant", Content: []Block{{Type: "text", Text: "par"}}}},
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"par"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite([]byte(tt.body), tt.set, tt.turns)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s (%v)\nwant %s", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{`[]`, `{"a":`, ``} {
		if _, err := Rewrite([]byte(bad), nil, nil); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestUsageRoundTrip(t *testing.T) {
	in, read, write, out := 100, 800, 50, 7
	u := ToUsage(Usage{InputTokens: &in, CacheReadInputTokens: &read, CacheCreationInputTokens: &write, OutputTokens: &out})
	if u.PromptTokens != 950 || u.PromptTokensDetails.CachedTokens != 800 || u.PromptTokensDetails.CacheCreationTokens != 50 || u.TotalTokens != 957 {
		t.Errorf("ToUsage %+v %+v", u, u.PromptTokensDetails)
	}
	back := FromUsage(u)
	if *back.InputTokens != in || *back.CacheReadInputTokens != read || *back.CacheCreationInputTokens != write || *back.OutputTokens != out {
		t.Errorf("FromUsage %+v", back)
	}
	for _, f := range []string{llm.FinishStop, llm.FinishLength, llm.FinishToolCalls, llm.FinishContentFilter} {
		if FinishReason(StopReason(f)) != f {
			t.Errorf("%s does not round-trip", f)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[],"stream":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		out, err := Rewrite(b, map[string]json.RawMessage{"model": json.RawMessage(`"m"`)}, nil)
		if err != nil {
			return
		}
		var v map[string]json.RawMessage
		if json.Unmarshal(out, &v) != nil || string(v["model"]) != `"m"` {
			t.Fatalf("rewrite of %s gave %s", b, out)
		}
	})
}
