package anthropicapi

import (
	"bufio"
	"encoding/json"

	"llmrouter/llm"
	"llmrouter/llm/anthropicwire"
)

// Ping is the ping event; the proxy also sends it on idle streams.
var Ping = []byte("event: ping\ndata: {\"type\":\"ping\"}\n\n")

// StreamEncoder turns a canonical chunk stream into the Messages event
// sequence: message_start and ping, then per block content_block_start,
// content_block_delta (text_delta, thinking_delta, signature_delta,
// input_json_delta) and content_block_stop, then message_delta (stop
// reason and usage) and message_stop. One encoder serves one stream; it is
// not safe for concurrent use.
//
// Blocks follow the order in which content arrives: a chunk carrying text
// and a tool call closes the text block and opens a tool_use block. A
// tool call's argument fragments go to its block while it is the open one;
// Chat Completions upstreams send one call's fragments before the next
// call's, which is the only order the Messages stream can express.
type StreamEncoder struct {
	started bool
	stopped bool
	open    bool   // a content block is open
	kind    string // its type
	index   int    // its index
	next    int    // index of the next block
	tools   map[int]int
	stop    string
	usage   *llm.Usage
}

// NewStreamEncoder returns an encoder for one stream.
func NewStreamEncoder() *StreamEncoder { return &StreamEncoder{tools: map[int]int{}} }

type textStart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingStart struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type toolStart struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type redactedStart struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type blockStart struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block"`
}

type blockDelta struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

type blockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type signatureDelta struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
}

type jsonDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type messageStart struct {
	Type    string                 `json:"type"`
	Message *anthropicwire.Message `json:"message"`
}

type messageDelta struct {
	Type  string              `json:"type"`
	Delta messageDeltaBody    `json:"delta"`
	Usage anthropicwire.Usage `json:"usage"`
}

type messageDeltaBody struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

type typeOnly struct {
	Type string `json:"type"`
}

func event(w *bufio.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.WriteString("event: ")
	w.WriteString(name)
	w.WriteString("\ndata: ")
	w.Write(b)
	_, err = w.WriteString("\n\n")
	return err
}

// Chunk writes the events for c and reports whether it wrote any.
func (e *StreamEncoder) Chunk(w *bufio.Writer, c *llm.Chunk) (bool, error) {
	wrote := false
	if !e.started {
		if err := e.start(w, c); err != nil {
			return false, err
		}
		wrote = true
	}
	if c.Usage != nil {
		u := *c.Usage
		e.usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		n, err := e.delta(w, &ch.Delta)
		if err != nil {
			return false, err
		}
		wrote = wrote || n
		if ch.FinishReason != nil {
			e.stop = anthropicwire.StopReason(*ch.FinishReason)
			if e.open {
				if err := e.closeBlock(w); err != nil {
					return false, err
				}
				wrote = true
			}
		}
	}
	return wrote, nil
}

func (e *StreamEncoder) start(w *bufio.Writer, c *llm.Chunk) error {
	e.started = true
	u := anthropicwire.FromUsage(c.Usage)
	zero := 0
	u.OutputTokens = &zero
	m := &anthropicwire.Message{ID: messageID(c.ID), Type: "message", Role: "assistant", Model: c.Model,
		Content: []anthropicwire.Block{}, Usage: u}
	if err := event(w, "message_start", messageStart{Type: "message_start", Message: m}); err != nil {
		return err
	}
	_, err := w.Write(Ping)
	return err
}

func (e *StreamEncoder) delta(w *bufio.Writer, d *llm.Delta) (bool, error) {
	wrote := false
	if d.ReasoningContent != nil && *d.ReasoningContent != "" {
		if err := e.ensure(w, "thinking", thinkingStart{Type: "thinking"}); err != nil {
			return false, err
		}
		if err := event(w, "content_block_delta", blockDelta{"content_block_delta", e.index, thinkingDelta{"thinking_delta", *d.ReasoningContent}}); err != nil {
			return false, err
		}
		wrote = true
	}
	for _, tb := range d.ThinkingBlocks {
		switch {
		case tb.Type == "thinking" && tb.Signature != "":
			if err := e.ensure(w, "thinking", thinkingStart{Type: "thinking"}); err != nil {
				return false, err
			}
			if err := event(w, "content_block_delta", blockDelta{"content_block_delta", e.index, signatureDelta{"signature_delta", tb.Signature}}); err != nil {
				return false, err
			}
		case tb.Type == "redacted_thinking":
			if err := e.begin(w, "redacted_thinking", redactedStart{Type: "redacted_thinking", Data: tb.Data}); err != nil {
				return false, err
			}
			if err := e.closeBlock(w); err != nil {
				return false, err
			}
		default:
			continue
		}
		wrote = true
	}
	if d.Content != nil && *d.Content != "" {
		if err := e.ensure(w, "text", textStart{Type: "text"}); err != nil {
			return false, err
		}
		if err := event(w, "content_block_delta", blockDelta{"content_block_delta", e.index, textDelta{"text_delta", *d.Content}}); err != nil {
			return false, err
		}
		wrote = true
	}
	for _, tc := range d.ToolCalls {
		idx := 0
		if tc.Index != nil {
			idx = *tc.Index
		}
		block, seen := e.tools[idx]
		if !seen || (tc.ID != "" && !(e.open && e.kind == "tool_use" && e.index == block)) {
			if err := e.begin(w, "tool_use", toolStart{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(`{}`)}); err != nil {
				return false, err
			}
			e.tools[idx] = e.index
			block = e.index
			wrote = true
		}
		if tc.Function.Arguments != "" && e.open && e.kind == "tool_use" && e.index == block {
			if err := event(w, "content_block_delta", blockDelta{"content_block_delta", block, jsonDelta{"input_json_delta", tc.Function.Arguments}}); err != nil {
				return false, err
			}
			wrote = true
		}
	}
	return wrote, nil
}

// ensure opens a block of kind unless one is open.
func (e *StreamEncoder) ensure(w *bufio.Writer, kind string, start any) error {
	if e.open && e.kind == kind {
		return nil
	}
	return e.begin(w, kind, start)
}

// begin closes the open block and starts a new one.
func (e *StreamEncoder) begin(w *bufio.Writer, kind string, start any) error {
	if e.open {
		if err := e.closeBlock(w); err != nil {
			return err
		}
	}
	e.open, e.kind, e.index = true, kind, e.next
	e.next++
	return event(w, "content_block_start", blockStart{"content_block_start", e.index, start})
}

func (e *StreamEncoder) closeBlock(w *bufio.Writer) error {
	e.open = false
	return event(w, "content_block_stop", blockStop{"content_block_stop", e.index})
}

// Finish writes the end of a complete stream: the open block's stop,
// message_delta with the stop reason and usage, and message_stop.
func (e *StreamEncoder) Finish(w *bufio.Writer) error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	if !e.started {
		if err := e.start(w, &llm.Chunk{}); err != nil {
			return err
		}
	}
	if e.open {
		if err := e.closeBlock(w); err != nil {
			return err
		}
	}
	stop := e.stop
	if stop == "" {
		stop = "end_turn"
	}
	if err := event(w, "message_delta", messageDelta{Type: "message_delta",
		Delta: messageDeltaBody{StopReason: stop}, Usage: anthropicwire.FromUsage(e.usage)}); err != nil {
		return err
	}
	return event(w, "message_stop", typeOnly{"message_stop"})
}

// Error writes the error event that ends a failed stream.
func (e *StreamEncoder) Error(w *bufio.Writer, err *llm.Error, message string) error {
	e.stopped = true
	_, typ := Classify(err)
	return event(w, "error", anthropicwire.ErrorBody{Type: "error", Error: anthropicwire.APIError{Type: typ, Message: message}})
}
