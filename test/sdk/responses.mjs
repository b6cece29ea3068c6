// openai SDK Responses API conformance: drives a running llmrouter's
// /v1/responses with the official openai npm package. Environment as in
// conformance.mjs, plus:
//
//   LLMROUTER_SIM_MODEL  a model alias served by the simulator (json_schema output)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { BadRequestError } from 'openai';

const baseURL = process.env.LLMROUTER_BASE_URL;
const apiKey = process.env.LLMROUTER_KEY;
if (!baseURL || !apiKey) {
  throw new Error('LLMROUTER_BASE_URL and LLMROUTER_KEY must be set');
}
const model = process.env.LLMROUTER_MODEL || 'auto';
const simModel = process.env.LLMROUTER_SIM_MODEL || '';

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strict: true,
};

test('responses.create: text in, output_text out', async () => {
  const res = await client.responses.create({ model, instructions: 'You are terse.', input: 'Say hello.' });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  assert.ok(res.id.startsWith('resp_'));
  assert.ok(res.output_text.length > 0, 'output_text empty');
  assert.equal(res.output[0].type, 'message');
  assert.equal(res.output[0].content[0].type, 'output_text');
  assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0);
  assert.equal(res.usage.total_tokens, res.usage.input_tokens + res.usage.output_tokens);
});

test('responses.stream: typed events and finalResponse()', async () => {
  const stream = client.responses.stream({
    model,
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell me about streams.' }] }],
  });
  let deltas = '';
  const types = [];
  stream.on('response.output_text.delta', (ev) => {
    deltas += ev.delta;
  });
  for await (const ev of stream) types.push(ev.type);
  const final = await stream.finalResponse();
  assert.equal(types[0], 'response.created');
  assert.equal(types[types.length - 1], 'response.completed');
  for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.output_item.done']) {
    assert.ok(types.includes(t), `missing ${t}: ${types.join(',')}`);
  }
  assert.ok(deltas.length > 0);
  const finalText = final.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');
  assert.equal(finalText, deltas);
  assert.ok(final.usage.output_tokens > 0);
});

for (const streamed of [false, true]) {
  test(`function calling round trip (${streamed ? 'streamed' : 'not streamed'})`, async () => {
    const params = { model, input: 'What is the weather in Paris?', tools: [weatherTool], tool_choice: 'required' };
    let first;
    if (streamed) {
      const stream = client.responses.stream(params);
      let args = '';
      stream.on('response.function_call_arguments.delta', (ev) => {
        args += ev.delta;
      });
      first = await stream.finalResponse();
      const call = first.output.find((o) => o.type === 'function_call');
      assert.equal(args, call.arguments, 'argument deltas differ from the final arguments');
    } else {
      first = await client.responses.create(params);
    }
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call, `no function_call item: ${JSON.stringify(first.output)}`);
    assert.equal(call.name, 'get_weather');
    assert.ok(call.call_id.length > 0);
    assert.equal(typeof JSON.parse(call.arguments).city, 'string');

    const second = await client.responses.create({
      model,
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '18 degrees and sunny' },
      ],
    });
    assert.ok(second.output_text.length > 0);
  });
}

test('json_schema output', { skip: !simModel && 'LLMROUTER_SIM_MODEL not set' }, async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
    required: ['name', 'age', 'tags'],
    additionalProperties: false,
  };
  const res = await client.responses.create({
    model: simModel,
    input: 'Describe a person.',
    text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
  });
  const v = JSON.parse(res.output_text);
  assert.equal(typeof v.name, 'string');
  assert.equal(typeof v.age, 'number');
  assert.ok(Array.isArray(v.tags));
});

test('store: true and previous_response_id get a clear 400', async () => {
  for (const extra of [{ store: true }, { previous_response_id: 'resp_123' }]) {
    await assert.rejects(
      client.responses.create({ model, input: 'hi', ...extra }),
      (e) => e instanceof BadRequestError && e.status === 400 && /stateless/.test(e.message),
    );
  }
});
