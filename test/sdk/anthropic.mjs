// Anthropic SDK conformance: drives a running llmrouter's /v1/messages with
// the official @anthropic-ai/sdk npm package. Environment as in
// conformance.mjs, plus:
//
//   LLMROUTER_ROOT_URL   the proxy root, e.g. http://127.0.0.1:PORT (the SDK adds /v1/messages)
//   LLMROUTER_LIMITED_MODEL  a model alias whose upstream always answers 429 (optional)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { AuthenticationError, BadRequestError, NotFoundError, RateLimitError } from '@anthropic-ai/sdk';

const baseURL = process.env.LLMROUTER_ROOT_URL;
const apiKey = process.env.LLMROUTER_KEY;
if (!baseURL || !apiKey) {
  throw new Error('LLMROUTER_ROOT_URL and LLMROUTER_KEY must be set');
}
const model = process.env.LLMROUTER_MODEL || 'auto';
const limitedModel = process.env.LLMROUTER_LIMITED_MODEL || '';

const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city'],
  },
};

function text(msg) {
  return msg.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

test('messages.create: a plain message', async () => {
  const msg = await client.messages.create({
    model,
    max_tokens: 256,
    system: 'You are terse.',
    messages: [{ role: 'user', content: 'Say hello.' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.ok(msg.id.startsWith('msg_'), `id ${msg.id}`);
  assert.ok(msg.model.length > 0);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.ok(text(msg).length > 0, 'no text');
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
});

test('messages.stream: events in order, then finalMessage()', async () => {
  const stream = client.messages.stream({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Tell me about streams.' }],
  });
  const types = [];
  let deltas = '';
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') deltas += ev.delta.text;
  }
  const final = await stream.finalMessage();
  assert.equal(types[0], 'message_start');
  assert.equal(types[types.length - 1], 'message_stop');
  assert.equal(types[types.length - 2], 'message_delta');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'), types.join(','));
  assert.ok(deltas.length > 0);
  assert.equal(text(final), deltas, 'finalMessage text differs from the deltas');
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.output_tokens > 0, JSON.stringify(final.usage));
});

for (const streamed of [false, true]) {
  test(`tool-use round trip (${streamed ? 'streamed' : 'not streamed'})`, async () => {
    const params = {
      model,
      max_tokens: 256,
      tools: [weatherTool],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    };
    const first = streamed ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.ok(use, `no tool_use block: ${JSON.stringify(first.content)}`);
    assert.equal(use.name, 'get_weather');
    assert.ok(use.id.length > 0);
    assert.equal(typeof use.input, 'object');
    assert.equal(typeof use.input.city, 'string');

    const second = await client.messages.create({
      model,
      max_tokens: 256,
      tools: [weatherTool],
      messages: [
        params.messages[0],
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 degrees and sunny' }] },
      ],
    });
    assert.equal(second.stop_reason, 'end_turn');
    assert.ok(text(second).length > 0);
  });
}

test('messages.countTokens', async () => {
  const res = await client.messages.countTokens({
    model,
    system: 'You are terse.',
    tools: [weatherTool],
    messages: [{ role: 'user', content: 'How many tokens is this sentence?' }],
  });
  assert.equal(typeof res.input_tokens, 'number');
  assert.ok(res.input_tokens > 5, `${res.input_tokens}`);
});

test('errors surface as the SDK classes', async () => {
  const bad = new Anthropic({ baseURL, apiKey: 'sk-wrong-key', maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof AuthenticationError && e.status === 401 && e.error?.error?.type === 'authentication_error',
  );
  await assert.rejects(
    client.messages.create({ model: 'no-such-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof NotFoundError && e.error?.error?.type === 'not_found_error',
  );
  await assert.rejects(
    client.messages.create({ model, messages: [{ role: 'user', content: 'no max_tokens' }] }),
    (e) => e instanceof BadRequestError && e.error?.error?.type === 'invalid_request_error' && /max_tokens/.test(e.message),
  );
  if (limitedModel) {
    await assert.rejects(
      client.messages.create({ model: limitedModel, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof RateLimitError && e.error?.error?.type === 'rate_limit_error',
    );
  }
});
