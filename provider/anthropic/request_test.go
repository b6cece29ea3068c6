package anthropic

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"llmrouter/llm"
)

// decodeReq builds an llm.Request from OpenAI JSON, as the proxy would.
func decodeReq(t *testing.T, body string) *llm.Request {
	t.Helper()
	var r llm.Request
	if err := llm.DecodeRequest([]byte(body), &r); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	return &r
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request mismatch\n got: %s\nwant: %s", got, want)
	}
}

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name   string
		openai string
		want   string // Anthropic body
		ws     string // trimmed prefill whitespace
	}{
		{
			name:   "system and developer joined, default max_tokens",
			openai: `{"model":"claude-x","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"use metric"}]},{"role":"user","content":"hi"}]}`,
			want:   `{"model":"claude-x","max_tokens":4096,"system":"be brief\n\nuse metric","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name:   "consecutive same-role messages merged",
			openai: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"},{"role":"assistant","content":"d"},{"role":"user","content":"e"}]}`,
			want: `{"model":"m","max_tokens":10,"messages":[
				{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
				{"role":"assistant","content":[{"type":"text","text":"c"},{"type":"text","text":"d"}]},
				{"role":"user","content":[{"type":"text","text":"e"}]}]}`,
		},
		{
			name:   "multi-part content with images",
			openai: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}}]}],"max_completion_tokens":7,"max_tokens":99}`,
			want: `{"model":"m","max_tokens":7,"messages":[{"role":"user","content":[
				{"type":"text","text":"what is this?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
				{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}]}`,
		},
		{
			name: "tool round trip: tool_calls to tool_use, tool results merged into one user turn first",
			openai: `{"model":"m","messages":[
				{"role":"user","content":"weather in SF and NYC?"},
				{"role":"assistant","content":null,"tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"SF\"}"}},
					{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_1","content":"58F"},
				{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"40F"}]},
				{"role":"user","content":"thanks"}],
				"tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
				         {"type":"function","function":{"name":"now"}}],
				"tool_choice":"required","parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"weather in SF and NYC?"}]},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"SF"}},
					{"type":"tool_use","id":"call_2","name":"get_weather","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"58F"}]},
					{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"40F"}]},
					{"type":"text","text":"thanks"}]}],
				"tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
				         {"name":"now","input_schema":{"type":"object","properties":{}}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name:   "user text before tool results is moved after them",
			openai: `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"note"},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"q"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":[{"type":"text","text":"r"}]},{"type":"text","text":"note"}]}],
				"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}]}`,
		},
		{
			name:   "tool_choice none and auto, parallel false on auto",
			openai: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name:   "named function tool_choice",
			openai: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"tool","name":"f"}}`,
		},
		{
			name:   "parallel false without tool_choice",
			openai: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		},
		{
			name:   "sampling, stop, user, stream, forwarded extras, dropped unknowns",
			openai: `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","temperature":1.7,"top_p":0.9,"user":"u-42","stream":true,"seed":3,"presence_penalty":0.5,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},"reasoning_effort":"low"}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stop_sequences":["END"],"temperature":1,"top_p":0.9,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u-42"},"stream":true}`,
		},
		{
			name:   "prefill: last assistant message is sent as the final turn, trailing space trimmed",
			openai: `{"model":"m","messages":[{"role":"user","content":"count to five"},{"role":"assistant","content":"one, two, "}]}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"count to five"}]},{"role":"assistant","content":[{"type":"text","text":"one, two,"}]}]}`,
			ws:     " ",
		},
		{
			name:   "empty messages are dropped, then neighbours merge",
			openai: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":"b"}]}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := decodeReq(t, tt.openai)
			before, _ := json.Marshal(req)
			mr, ws, err := buildRequest(req, DefaultMaxTokens)
			if err != nil {
				t.Fatalf("buildRequest: %v", err)
			}
			got, err := json.Marshal(mr)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tt.want)
			if ws != tt.ws {
				t.Errorf("prefill whitespace = %q, want %q", ws, tt.ws)
			}
			if after, _ := json.Marshal(req); string(after) != string(before) {
				t.Errorf("buildRequest modified the request:\n%s\n%s", before, after)
			}
		})
	}
}

func TestBuildRequestInvalid(t *testing.T) {
	tests := []struct {
		name, openai, param string
	}{
		{"n above one", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"bad tool arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"tool arguments not an object", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"unknown role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].role"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"only system", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages"},
		{"bad image url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"data url not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"bad tool_choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "tool_choice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := buildRequest(decodeReq(t, tt.openai), DefaultMaxTokens)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Kind != llm.KindInvalidRequest || e.Param != tt.param {
				t.Errorf("got kind %v param %q, want invalid_request param %q (%v)", e.Kind, e.Param, tt.param, e)
			}
		})
	}
}
