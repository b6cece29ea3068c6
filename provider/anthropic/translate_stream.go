package anthropic

import (
	"encoding/json"
	"fmt"

	"llmrouter/llm"
)

// translator turns the events of one Anthropic stream into OpenAI
// chat.completion.chunk values. It is a pure state machine (no I/O) and is
// not safe for concurrent use.
//
// Mapping: message_start opens with a role-only chunk (content ""); text
// deltas become content, thinking deltas reasoning_content, a
// signature_delta a thinking_blocks entry with only the signature, a
// redacted_thinking block a whole thinking_blocks entry; each tool_use block opens a tool_calls entry whose index counts
// tool blocks in this stream (not the Anthropic block index) and whose
// input_json_delta fragments become argument fragments, "{}" when a block
// has none; message_delta becomes the finish chunk; message_stop emits the
// usage chunk (no choices) and ends the stream. Usage counters keep the last
// value seen for each, never a sum.
type translator struct {
	provider  string
	prefillWS string // trimmed off the first text delta once (see buildRequest)
	created   int64

	id, model string
	started   bool // message_start seen
	finished  bool // finish chunk emitted
	done      bool // message_stop seen
	sent      bool // some content, reasoning or tool call was emitted
	textSeen  bool
	usage     usage
	tools     map[int]*toolBlock // open tool blocks by Anthropic block index
	nextTool  int
}

type toolBlock struct {
	index   int             // OpenAI tool_calls index
	gotArgs bool            // a non-empty input_json_delta arrived
	input   json.RawMessage // content_block_start's input, used if no deltas arrive
}

func newTranslator(provider, prefillWS string, created int64) *translator {
	return &translator{provider: provider, prefillWS: prefillWS, created: created, tools: map[int]*toolBlock{}}
}

// event translates one event payload. It returns the chunks to emit, in
// order (often none). After message_stop, t.done is true. An "error" event,
// a malformed payload, or content before message_start yields an *llm.Error.
func (t *translator) event(data []byte) ([]*llm.Chunk, error) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, t.fail(fmt.Sprintf("malformed stream event: %v", err))
	}
	switch ev.Type {
	case "ping":
		return nil, nil
	case "error":
		e := apiError{Type: "api_error", Message: "stream error event"}
		if ev.Error != nil {
			e = *ev.Error
		}
		err := errorForType(t.provider, e.Type, e.Message)
		err.Sent = t.sent
		return nil, err
	case "message_start":
		if t.started {
			return nil, t.fail("duplicate message_start")
		}
		if ev.Message == nil {
			return nil, t.fail("message_start without message")
		}
		t.started = true
		t.id, t.model = ev.Message.ID, ev.Message.Model
		t.usage.Merge(&ev.Message.Usage)
		return []*llm.Chunk{t.chunk(llm.Delta{Role: "assistant", Content: llm.Ptr("")}, nil)}, nil
	}
	if !t.started {
		return nil, t.fail(fmt.Sprintf("stream event %q before message_start", ev.Type))
	}
	if t.done {
		return nil, nil
	}
	switch ev.Type {
	case "content_block_start":
		return t.blockStart(idx(ev.Index), ev.ContentBlock), nil
	case "content_block_delta":
		return t.blockDelta(idx(ev.Index), ev.Delta), nil
	case "content_block_stop":
		return t.blockStop(idx(ev.Index)), nil
	case "message_delta":
		t.usage.Merge(ev.Usage)
		if ev.Delta == nil || t.finished {
			return nil, nil
		}
		t.finished = true
		fr := finishReason(deref(ev.Delta.StopReason))
		return []*llm.Chunk{t.chunk(llm.Delta{}, &fr)}, nil
	case "message_stop":
		t.done = true
		var out []*llm.Chunk
		if !t.finished {
			t.finished = true
			fr := llm.FinishStop
			out = append(out, t.chunk(llm.Delta{}, &fr))
		}
		u := t.chunk(llm.Delta{}, nil)
		u.Choices = []llm.ChunkChoice{}
		u.Usage = toUsage(t.usage)
		return append(out, u), nil
	}
	return nil, nil // unknown events are ignored, as the API asks
}

func (t *translator) blockStart(idx int, b *block) []*llm.Chunk {
	if b == nil {
		return nil
	}
	switch b.Type {
	case "text":
		return t.text(b.Text)
	case "thinking":
		return t.reasoning(b.Thinking)
	case "redacted_thinking":
		t.sent = true
		return []*llm.Chunk{t.chunk(llm.Delta{ThinkingBlocks: []llm.ThinkingBlock{{Type: "redacted_thinking", Data: b.Data}}}, nil)}
	case "tool_use":
		tb := &toolBlock{index: t.nextTool, input: b.Input}
		t.nextTool++
		t.tools[idx] = tb
		t.sent = true
		return []*llm.Chunk{t.chunk(llm.Delta{ToolCalls: []llm.ToolCall{{
			Index:    llm.Ptr(tb.index),
			ID:       b.ID,
			Type:     "function",
			Function: llm.ToolCallFunction{Name: b.Name, Arguments: ""},
		}}}, nil)}
	}
	return nil // server tool blocks: nothing to show
}

func (t *translator) blockDelta(idx int, d *eventDelta) []*llm.Chunk {
	if d == nil {
		return nil
	}
	switch d.Type {
	case "text_delta":
		return t.text(d.Text)
	case "thinking_delta":
		return t.reasoning(d.Thinking)
	case "signature_delta":
		if d.Signature == "" {
			return nil
		}
		return []*llm.Chunk{t.chunk(llm.Delta{ThinkingBlocks: []llm.ThinkingBlock{{Type: "thinking", Signature: d.Signature}}}, nil)}
	case "input_json_delta":
		tb := t.tools[idx]
		if tb == nil || d.PartialJSON == nil || *d.PartialJSON == "" {
			return nil
		}
		tb.gotArgs = true
		return []*llm.Chunk{t.args(tb.index, *d.PartialJSON)}
	}
	return nil // citations_delta, ...
}

func (t *translator) blockStop(idx int) []*llm.Chunk {
	tb := t.tools[idx]
	if tb == nil {
		return nil
	}
	delete(t.tools, idx)
	if tb.gotArgs {
		return nil
	}
	args := "{}"
	if len(tb.input) > 0 && string(tb.input) != "null" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(tb.input, &obj) == nil && len(obj) > 0 {
			args = string(tb.input)
		}
	}
	return []*llm.Chunk{t.args(tb.index, args)}
}

func (t *translator) text(s string) []*llm.Chunk {
	if !t.textSeen && s != "" {
		t.textSeen = true
		s = trimContinuation(s, t.prefillWS)
	}
	if s == "" {
		return nil
	}
	t.sent = true
	return []*llm.Chunk{t.chunk(llm.Delta{Content: llm.Ptr(s)}, nil)}
}

func (t *translator) reasoning(s string) []*llm.Chunk {
	if s == "" {
		return nil
	}
	t.sent = true
	return []*llm.Chunk{t.chunk(llm.Delta{ReasoningContent: llm.Ptr(s)}, nil)}
}

func (t *translator) args(index int, frag string) *llm.Chunk {
	return t.chunk(llm.Delta{ToolCalls: []llm.ToolCall{{
		Index:    llm.Ptr(index),
		Function: llm.ToolCallFunction{Arguments: frag},
	}}}, nil)
}

func (t *translator) chunk(d llm.Delta, finish *string) *llm.Chunk {
	return &llm.Chunk{
		ID:      t.id,
		Object:  llm.ObjectChatCompletionChunk,
		Created: t.created,
		Model:   t.model,
		Choices: []llm.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}},
	}
}

// fail returns a KindUpstreamError for a protocol violation.
func (t *translator) fail(msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: t.provider, Message: msg, Sent: t.sent}
}

func idx(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
