package llm

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheckWellFormedFindsDuplicateKeys(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		b.WriteString(`{"model":"m","messages":[]`)
		for i := range 20 {
			fmt.Fprintf(&b, `,"k%d":%d`, i, i)
		}
		return b.String() + extra + "}"
	}
	for _, tc := range []struct {
		name, body, dup string
	}{
		{"top level", `{"model":"a","model":"b"}`, "model"},
		{"in a message", `{"messages":[{"role":"user","role":"system"}]}`, "role"},
		{"escaped twin", `{"model":"a","\u006dodel":"b"}`, "model"},
		{"past sixteen keys", many(`,"k3":0`), "k3"},
		{"past sixteen keys, the first one", many(`,"model":0`), "model"},
		{"same key in two objects is fine", `{"a":{"x":1},"b":{"x":2}}`, ""},
		{"prefix keys differ", `{"ab":1,"a":2,"abc":3}`, ""},
		{"many distinct keys", many(""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := checkWellFormed([]byte(tc.body))
			switch {
			case tc.dup == "" && e != nil:
				t.Fatalf("unexpected error %v", e)
			case tc.dup != "" && (e == nil || e.Code != "duplicate_key" || !strings.Contains(e.Message, `"`+tc.dup+`"`)):
				t.Fatalf("error %v, want duplicate_key naming %q", e, tc.dup)
			}
		})
	}
}

func TestCheckWellFormedDoesNotAllocateForFewKeys(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"temperature":0.2}`)
	if n := testing.AllocsPerRun(100, func() { _ = checkWellFormed(body) }); n != 0 {
		t.Fatalf("checkWellFormed allocates %.0f times", n)
	}
}
