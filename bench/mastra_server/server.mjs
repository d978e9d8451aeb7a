// Mastra's own HTTP server (Node 22, Hono) serving the workloads of bench/bench_server.py under the same ids.
//
// The server is @mastra/deployer's `createNodeServer(mastra)`: the Hono app (`createHonoServer`, with
// @mastra/server's route handlers) on @hono/node-server, as the entry that `mastra build` writes starts it for
// production (`node .mastra/output/index.mjs`): no studio, no dev routes.
//
// - a tool `add` (a + b);
// - an agent `calc` whose model is scripted: a plain object implementing the AI SDK's LanguageModelV2 (doGenerate
//   and doStream, as the peer benchmarks do; no mock library) that calls `add` once, then answers "2 + 3 = 5" once
//   the prompt holds the tool's result, as many times as asked;
// - a workflow `three` of three steps, input {n}, each adding 1.
//
// Storage: BENCH_STORE=libsql keeps everything in a LibSQL file (`BENCH_DIR`/bench-server.db), Mastra's persisted
// counterpart of DuckDB; otherwise InMemoryStore. Tracing (observability) is not configured: Mastra's default.
// Listens on 127.0.0.1:$PORT (0 = a free port) and prints one line `{"url": "http://127.0.0.1:PORT"}` when it
// accepts connections. MASTRA_TELEMETRY_DISABLED=1 is set here: the machine has no network.
//
// Run (see README.md): install with `npm install` beside this file under Node 22, then
//   PORT=4111 node server.mjs
process.env.MASTRA_TELEMETRY_DISABLED ??= '1';

import path from 'node:path';
import { Mastra } from '@mastra/core/mastra';
import { Agent } from '@mastra/core/agent';
import { createTool } from '@mastra/core/tools';
import { createWorkflow, createStep } from '@mastra/core/workflows';
import { InMemoryStore } from '@mastra/core/storage';
import { ConsoleLogger } from '@mastra/core/logger';
import { createNodeServer } from '@mastra/deployer/server';
import { z } from 'zod';

const add = createTool({
  id: 'add',
  description: 'Add two integers.',
  inputSchema: z.object({ a: z.number().int(), b: z.number().int() }),
  outputSchema: z.number().int(),
  execute: async ({ a, b }) => a + b,
});

// The scripted model: a tool call first, the answer once the prompt holds a tool result.
let modelCalls = 0;
const usage = { inputTokens: 1, outputTokens: 1, totalTokens: 2 };
const answered = (prompt) => prompt.some((m) => m.role === 'tool' && m.content.some((p) => p.type === 'tool-result'));
const toolCall = () => ({ type: 'tool-call', toolCallId: `call_${modelCalls}`, toolName: 'add', input: JSON.stringify({ a: 2, b: 3 }) });
const model = {
  specificationVersion: 'v2',
  provider: 'scripted',
  modelId: 'scripted',
  supportedUrls: {},
  async doGenerate({ prompt }) {
    modelCalls++;
    const response = { id: `r${modelCalls}`, modelId: 'scripted', timestamp: new Date(0) };
    return answered(prompt)
      ? { content: [{ type: 'text', text: '2 + 3 = 5' }], finishReason: 'stop', usage, warnings: [], response }
      : { content: [toolCall()], finishReason: 'tool-calls', usage, warnings: [], response };
  },
  async doStream({ prompt }) {
    modelCalls++;
    const parts = [
      { type: 'stream-start', warnings: [] },
      { type: 'response-metadata', id: `r${modelCalls}`, modelId: 'scripted', timestamp: new Date(0) },
      ...(answered(prompt)
        ? [
            { type: 'text-start', id: 't' },
            { type: 'text-delta', id: 't', delta: '2 + 3 = 5' },
            { type: 'text-end', id: 't' },
            { type: 'finish', finishReason: 'stop', usage },
          ]
        : [toolCall(), { type: 'finish', finishReason: 'tool-calls', usage }]),
    ];
    return { stream: new ReadableStream({ start(c) { for (const p of parts) c.enqueue(p); c.close(); } }) };
  },
};

const calc = new Agent({ id: 'calc', name: 'calc', instructions: 'You add numbers.', model, tools: { add } });

const Count = z.object({ n: z.number().int() });
let three = createWorkflow({ id: 'three', inputSchema: Count, outputSchema: Count });
for (let i = 0; i < 3; i++) {
  three = three.then(createStep({ id: `s${i}`, inputSchema: Count, outputSchema: Count,
    execute: async ({ inputData }) => ({ n: inputData.n + 1 }) }));
}
three.commit();

let storage;
if (process.env.BENCH_STORE === 'libsql') {
  const { LibSQLStore } = await import('@mastra/libsql');
  const file = path.resolve(process.env.BENCH_DIR || '.', 'bench-server.db');
  storage = new LibSQLStore({ id: 'bench-server', url: `file:${file}` });
} else {
  storage = new InMemoryStore();
}

const mastra = new Mastra({
  tools: { add },
  agents: { calc },
  workflows: { three },
  storage,
  logger: new ConsoleLogger({ name: 'Mastra', level: process.env.LOG_LEVEL || 'warn' }),
  server: { host: '127.0.0.1', port: Number(process.env.PORT ?? 4111) },
});

const server = await createNodeServer(mastra, { tools: {} });
if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
