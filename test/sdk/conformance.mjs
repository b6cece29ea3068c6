// SDK conformance: drives a running llmrouter with the official openai npm
// package, exactly as an application would, and checks what the SDK sees.
//
// Run by `go test -run TestSDKConformance ./cmd/llmrouter/` (make test-sdk),
// which starts llmrouter in front of a fake upstream and runs
// `node --test conformance.mjs` here with:
//
//   LLMROUTER_BASE_URL   required, e.g. http://127.0.0.1:PORT/v1
//   LLMROUTER_KEY        required, a valid client key
//   LLMROUTER_MODEL      chat model alias to use (default "auto")
//   LLMROUTER_EMBED_MODEL  embeddings model alias (default "text-embedding-3-small")
//   LLMROUTER_EMBED_DIM  expected vector length (optional)
//   LLMROUTER_EXPECT_TEXT  a substring every plain chat answer contains (optional)
//   LLMROUTER_EXPECT_UPSTREAM  openai | anthropic: the fake behind llmrouter
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';

const baseURL = process.env.LLMROUTER_BASE_URL;
const apiKey = process.env.LLMROUTER_KEY;
if (!baseURL || !apiKey) {
  throw new Error('LLMROUTER_BASE_URL and LLMROUTER_KEY must be set');
}
const model = process.env.LLMROUTER_MODEL || 'auto';
const embedModel = process.env.LLMROUTER_EMBED_MODEL || 'text-embedding-3-small';
const embedDim = process.env.LLMROUTER_EMBED_DIM ? Number(process.env.LLMROUTER_EMBED_DIM) : 0;
const expectText = process.env.LLMROUTER_EXPECT_TEXT || '';
const upstream = process.env.LLMROUTER_EXPECT_UPSTREAM || 'openai';

// No SDK retries: a failure must show up as itself, at once.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
  },
};
const mustCallWeather = { type: 'function', function: { name: 'get_weather' } };

function checkText(text) {
  assert.equal(typeof text, 'string');
  assert.ok(text.length > 0, 'answer text is empty');
  if (expectText) assert.ok(text.includes(expectText), `answer ${JSON.stringify(text)} lacks ${JSON.stringify(expectText)}`);
}

test('non-stream chat completion', async () => {
  const res = await client.chat.completions.create({
    model,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello.' },
    ],
  });
  assert.equal(res.object, 'chat.completion');
  assert.ok(res.id, 'id missing');
  assert.ok(typeof res.model === 'string' && res.model.length > 0, 'model (the upstream that answered) missing');
  assert.equal(res.choices.length, 1);
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].finish_reason, 'stop');
  checkText(res.choices[0].message.content);
  assert.ok(res.usage.prompt_tokens > 0 && res.usage.completion_tokens > 0, 'usage missing');
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);

  // The fake upstream is deterministic: the same request gets the same words.
  const again = await client.chat.completions.create({
    model,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello.' },
    ],
  });
  assert.equal(again.choices[0].message.content, res.choices[0].message.content);
});

test('streamed chat completion, read chunk by chunk, with usage', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Count to five.' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let contentChunks = 0;
  let chunksAfterUsage = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (usage) chunksAfterUsage++;
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
      usage = chunk.usage;
      continue;
    }
    const choice = chunk.choices[0];
    if (choice.delta?.content) {
      text += choice.delta.content;
      contentChunks++;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  checkText(text);
  assert.ok(contentChunks >= 1, 'no content chunks');
  assert.equal(finish, 'stop');
  assert.ok(usage, 'usage chunk missing although include_usage was set');
  assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
  assert.equal(chunksAfterUsage, 0, 'the usage chunk must be the last one');
});

test('streamed chat without include_usage shows no usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Count to three.' }],
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) {
    assert.ok(!chunk.usage, 'usage chunk sent although the client did not ask');
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  checkText(text);
});

test('tool call round trip', async () => {
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const first = await client.chat.completions.create({ model, messages, tools: [weatherTool], tool_choice: mustCallWeather });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls?.length >= 1, true, 'no tool_calls');
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.ok(call.id, 'tool call id missing');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args, 'object');
  if ('city' in args) assert.equal(typeof args.city, 'string');

  messages.push(choice.message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: 'Paris', temp_c: 21, sky: 'clear' }) });
  const final = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.ok(!final.choices[0].message.tool_calls?.length, 'called a tool again instead of answering');
  assert.ok(final.choices[0].message.content?.length > 0, 'final answer is empty');
});

test('streamed tool call assembles into parseable arguments', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
    tools: [weatherTool],
    tool_choice: mustCallWeather,
    stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    for (const tc of choice.delta?.tool_calls ?? []) {
      assert.equal(typeof tc.index, 'number', 'tool call delta without index');
      calls[tc.index] ??= { id: '', name: '', args: '' };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      if (tc.function?.arguments) calls[tc.index].args += tc.function.arguments;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.ok(calls.length >= 1, 'no tool call streamed');
  assert.equal(calls[0].name, 'get_weather');
  assert.ok(calls[0].id, 'streamed tool call id missing');
  assert.equal(typeof JSON.parse(calls[0].args), 'object');
});

test('embeddings: default base64 encoding decoded by the SDK', async () => {
  const res = await client.embeddings.create({ model: embedModel, input: ['the quick brown fox', 'jumps over the lazy dog'] });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, 2);
  for (const [i, d] of res.data.entries()) {
    assert.equal(d.index, i);
    assert.ok(Array.isArray(d.embedding), 'embedding is not an array of floats');
    assert.ok(d.embedding.length > 0);
    if (embedDim) assert.equal(d.embedding.length, embedDim);
    assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)), 'non-finite values');
  }
  assert.equal(res.data[0].embedding.length, res.data[1].embedding.length);

  const floats = await client.embeddings.create({ model: embedModel, input: 'the quick brown fox', encoding_format: 'float' });
  assert.equal(floats.data[0].embedding.length, res.data[0].embedding.length);
  for (let i = 0; i < floats.data[0].embedding.length; i++) {
    assert.ok(Math.abs(floats.data[0].embedding[i] - res.data[0].embedding[i]) < 1e-6, `base64 and float encodings differ at ${i}`);
  }
});

test('models.list includes auto', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes('auto'), `auto missing from ${JSON.stringify(ids)}`);
  if (model !== 'auto') assert.ok(ids.includes(model), `${model} missing from ${JSON.stringify(ids)}`);
});

test('a bad key is an AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'sk-not-a-valid-key', maxRetries: 0, timeout: 30_000 });
  await assert.rejects(
    bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 401);
      assert.ok(!String(err.message).includes('sk-not-a-valid-key'), 'the key is echoed back');
      return true;
    },
  );
});

test('an unknown model is a NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    },
  );
});

test('a malformed request is a BadRequestError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: 'nope' }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      return true;
    },
  );
});

test('a malformed streamed request fails before any chunk', async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user' }], stream: true, temperature: 'hot' }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err?.message} (upstream ${upstream})`);
      return true;
    },
  );
});

test('batch job: files.create, batches.create, batches.retrieve, files.content', async () => {
  const lines = [];
  for (let i = 0; i < 5; i++) {
    lines.push(JSON.stringify({
      custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `batch question ${i % 3}` }], max_tokens: 32 },
    }));
  }
  const file = await client.files.create({
    file: await OpenAI.toFile(Buffer.from(lines.join('\n') + '\n'), 'batch.jsonl'),
    purpose: 'batch',
  });
  assert.match(file.id, /^file-/);
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'batch');
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.match(created.id, /^batch_/);
  assert.equal(created.input_file_id, file.id);
  let batch = created;
  const deadline = Date.now() + 20_000;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    assert.ok(Date.now() < deadline, `batch still ${batch.status}`);
    await new Promise((r) => setTimeout(r, 100));
    batch = await client.batches.retrieve(created.id);
  }
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.request_counts, { total: 5, completed: 5, failed: 0 });
  const content = await client.files.content(batch.output_file_id);
  const out = (await content.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(out.map((o) => o.custom_id), ['line-0', 'line-1', 'line-2', 'line-3', 'line-4']);
  for (const o of out) {
    assert.equal(o.response.status_code, 200);
    checkText(o.response.body.choices[0].message.content);
  }
  await assert.rejects(client.batches.retrieve('batch_doesnotexist'), NotFoundError);
});
