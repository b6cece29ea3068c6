package responsesapi

import (
	"bufio"
	"encoding/json"
	"time"

	"llmrouter/llm"
)

// StreamEncoder turns a canonical chunk stream into the Responses stream:
// response.created and response.in_progress; per message item
// response.output_item.added, response.content_part.added,
// response.output_text.delta..., response.output_text.done,
// response.content_part.done, response.output_item.done; per function call
// response.output_item.added, response.function_call_arguments.delta...,
// response.function_call_arguments.done, response.output_item.done; then
// response.completed (or response.incomplete) with the whole response and
// usage. A failure ends the stream with an error event. Every event carries
// a sequence_number. One encoder serves one stream; not safe for
// concurrent use.
type StreamEncoder struct {
	seq     int
	resp    *Response
	open    any // *MessageItem or *FunctionCallItem being streamed, or nil
	tools   map[int]*FunctionCallItem
	finish  string
	stopped bool
}

// NewStreamEncoder returns an encoder for one stream.
func NewStreamEncoder() *StreamEncoder { return &StreamEncoder{tools: map[int]*FunctionCallItem{}} }

// Heartbeat is an SSE comment; the SDKs skip comments.
var Heartbeat = []byte(": keep-alive\n\n")

func (e *StreamEncoder) event(w *bufio.Writer, typ string, fields map[string]any) error {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	w.WriteString("event: ")
	w.WriteString(typ)
	w.WriteString("\ndata: ")
	w.Write(b)
	_, err = w.WriteString("\n\n")
	return err
}

func (e *StreamEncoder) outputIndex(item any) int {
	for i, it := range e.resp.Output {
		if it == item {
			return i
		}
	}
	return -1
}

// Chunk writes the events for c and reports whether it wrote any.
func (e *StreamEncoder) Chunk(w *bufio.Writer, c *llm.Chunk) (bool, error) {
	wrote := false
	if e.resp == nil {
		created := c.Created
		if created == 0 {
			created = time.Now().Unix()
		}
		e.resp = newResponse(c.ID, c.Model, created, "in_progress")
		if err := e.event(w, "response.created", map[string]any{"response": e.resp}); err != nil {
			return false, err
		}
		if err := e.event(w, "response.in_progress", map[string]any{"response": e.resp}); err != nil {
			return false, err
		}
		wrote = true
	}
	if c.Usage != nil {
		e.resp.Usage = FromUsage(c.Usage)
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		if d := ch.Delta.Content; d != nil && *d != "" {
			if err := e.text(w, *d); err != nil {
				return false, err
			}
			wrote = true
		}
		for _, tc := range ch.Delta.ToolCalls {
			if err := e.toolCall(w, &tc); err != nil {
				return false, err
			}
			wrote = true
		}
		if ch.FinishReason != nil {
			e.finish = *ch.FinishReason
			if err := e.closeItem(w); err != nil {
				return false, err
			}
			wrote = true
		}
	}
	return wrote, nil
}

func (e *StreamEncoder) text(w *bufio.Writer, s string) error {
	m, ok := e.open.(*MessageItem)
	if !ok {
		if err := e.closeItem(w); err != nil {
			return err
		}
		m = &MessageItem{Type: "message", ID: itemID("msg_", e.resp.ID, len(e.resp.Output)), Status: "in_progress", Role: "assistant", Content: []OutputText{}}
		e.resp.Output = append(e.resp.Output, m)
		e.open = m
		idx := len(e.resp.Output) - 1
		if err := e.event(w, "response.output_item.added", map[string]any{"output_index": idx, "item": m}); err != nil {
			return err
		}
		m.Content = append(m.Content, OutputText{Type: "output_text", Annotations: []any{}})
		if err := e.event(w, "response.content_part.added", map[string]any{"item_id": m.ID, "output_index": idx, "content_index": 0,
			"part": OutputText{Type: "output_text", Annotations: []any{}}}); err != nil {
			return err
		}
	}
	m.Content[0].Text += s
	return e.event(w, "response.output_text.delta", map[string]any{"item_id": m.ID, "output_index": e.outputIndex(m),
		"content_index": 0, "delta": s, "logprobs": []any{}})
}

func (e *StreamEncoder) toolCall(w *bufio.Writer, tc *llm.ToolCall) error {
	idx := 0
	if tc.Index != nil {
		idx = *tc.Index
	}
	f, seen := e.tools[idx]
	if !seen {
		if err := e.closeItem(w); err != nil {
			return err
		}
		f = &FunctionCallItem{Type: "function_call", ID: itemID("fc_", e.resp.ID, len(e.resp.Output)), Status: "in_progress",
			CallID: tc.ID, Name: tc.Function.Name}
		e.tools[idx] = f
		e.resp.Output = append(e.resp.Output, f)
		e.open = f
		if err := e.event(w, "response.output_item.added", map[string]any{"output_index": len(e.resp.Output) - 1, "item": f}); err != nil {
			return err
		}
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	f.Arguments += tc.Function.Arguments
	if e.open != f {
		return nil // a late fragment of an earlier call: it is in the done item
	}
	return e.event(w, "response.function_call_arguments.delta", map[string]any{"item_id": f.ID, "output_index": e.outputIndex(f),
		"delta": tc.Function.Arguments})
}

// closeItem ends the open item with its done events.
func (e *StreamEncoder) closeItem(w *bufio.Writer) error {
	switch it := e.open.(type) {
	case *MessageItem:
		idx := e.outputIndex(it)
		text := it.Content[0].Text
		if err := e.event(w, "response.output_text.done", map[string]any{"item_id": it.ID, "output_index": idx, "content_index": 0, "text": text, "logprobs": []any{}}); err != nil {
			return err
		}
		if err := e.event(w, "response.content_part.done", map[string]any{"item_id": it.ID, "output_index": idx, "content_index": 0, "part": it.Content[0]}); err != nil {
			return err
		}
		it.Status = "completed"
		if err := e.event(w, "response.output_item.done", map[string]any{"output_index": idx, "item": it}); err != nil {
			return err
		}
	case *FunctionCallItem:
		idx := e.outputIndex(it)
		if it.Arguments == "" {
			it.Arguments = "{}"
		}
		if err := e.event(w, "response.function_call_arguments.done", map[string]any{"item_id": it.ID, "output_index": idx, "arguments": it.Arguments}); err != nil {
			return err
		}
		it.Status = "completed"
		if err := e.event(w, "response.output_item.done", map[string]any{"output_index": idx, "item": it}); err != nil {
			return err
		}
	}
	e.open = nil
	return nil
}

// Finish writes the end of a complete stream: response.completed (or
// response.incomplete after a length or content-filter stop).
func (e *StreamEncoder) Finish(w *bufio.Writer) error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	if e.resp == nil {
		if _, err := e.Chunk(w, &llm.Chunk{}); err != nil {
			return err
		}
	}
	if err := e.closeItem(w); err != nil {
		return err
	}
	e.resp.finish(e.finish)
	typ := "response.completed"
	if e.resp.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return e.event(w, typ, map[string]any{"response": e.resp})
}

// Error writes the error event that ends a failed stream; code and
// message are the client-facing ones.
func (e *StreamEncoder) Error(w *bufio.Writer, code, message, param string) error {
	e.stopped = true
	var p any
	if param != "" {
		p = param
	}
	return e.event(w, "error", map[string]any{"code": code, "message": message, "param": p})
}
