package anthropic

import "llmrouter/llm/anthropicwire"

// The Messages API wire shapes live in llm/anthropicwire, shared with the
// edge codec that serves Messages clients; these names keep this package's
// code short.
type (
	msgRequest  = anthropicwire.Request
	turn        = anthropicwire.Turn
	block       = anthropicwire.Block
	imageSource = anthropicwire.Source
	toolDef     = anthropicwire.ToolDef
	toolChoice  = anthropicwire.ToolChoice
	metadata    = anthropicwire.Metadata
	msgResponse = anthropicwire.Message
	usage       = anthropicwire.Usage
	event       = anthropicwire.Event
	eventDelta  = anthropicwire.Delta
	apiError    = anthropicwire.APIError
	errorBody   = anthropicwire.ErrorBody
)

var (
	finishReason  = anthropicwire.FinishReason
	toUsage       = anthropicwire.ToUsage
	statusForType = anthropicwire.StatusForType
)
