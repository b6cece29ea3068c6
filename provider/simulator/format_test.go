package simulator

import (
	"context"
	"encoding/json"
	"testing"
)

func TestResponseFormat(t *testing.T) {
	c := newClient(t, Options{})
	tests := []struct {
		name   string
		format string
		check  func(t *testing.T, v map[string]any)
	}{
		{"json_object", `{"type":"json_object"}`, func(t *testing.T, v map[string]any) {
			if s, _ := v["answer"].(string); s == "" {
				t.Errorf("answer missing: %v", v)
			}
		}},
		{"json_schema nested with refs", `{"type":"json_schema","json_schema":{"name":"p","schema":{
			"type":"object","required":["name","age","tags","kind","addr"],
			"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":18},
			"tags":{"type":"array","items":{"type":"string"},"minItems":2},
			"kind":{"enum":["a","b"]},"addr":{"$ref":"#/$defs/addr"}},
			"$defs":{"addr":{"type":"object","properties":{"zip":{"type":"number"}}}}}}}`,
			func(t *testing.T, v map[string]any) {
				if _, ok := v["name"].(string); !ok {
					t.Errorf("name: %v", v)
				}
				if a, _ := v["age"].(float64); a < 18 {
					t.Errorf("age: %v", v)
				}
				if tags, _ := v["tags"].([]any); len(tags) != 2 {
					t.Errorf("tags: %v", v)
				}
				if v["kind"] != "a" {
					t.Errorf("kind: %v", v)
				}
				if addr, _ := v["addr"].(map[string]any); addr == nil || addr["zip"] == nil {
					t.Errorf("addr: %v", v)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := userReq("sim", "describe a person")
			req.ResponseFormat = json.RawMessage(tt.format)
			for _, stream := range []bool{false, true} {
				var text string
				if stream {
					s, err := c.Stream(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					text, _, _ = streamText(collect(t, s))
				} else {
					resp, err := c.Complete(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					text = resp.Choices[0].Message.Content.Text()
				}
				var v map[string]any
				if err := json.Unmarshal([]byte(text), &v); err != nil {
					t.Fatalf("stream=%v: not JSON: %q", stream, text)
				}
				tt.check(t, v)
			}
		})
	}
}
