// Memory and traces through the client: a thread made, a conversation in it, its messages listed, working memory
// written and read back, and the traces the turn left.
import { client, report } from "./_client.mjs";

const mastra = client();
const made = await mastra.createMemoryThread({ agentId: "mem", resourceId: "ada", threadId: "trip", title: "Trip" });
const answer = await mastra.getAgent("mem").generate("What is 2 + 3?", { memory: { thread: "trip", resource: "ada" } });
const threads = await mastra.listMemoryThreads({ agentId: "mem", resourceId: "ada" });
const messages = await mastra.listThreadMessages("trip", { agentId: "mem" });
await mastra.updateWorkingMemory({ agentId: "mem", threadId: "trip", workingMemory: "# About the user\n- Name: Ada" });
const working = await mastra.getWorkingMemory({ agentId: "mem", threadId: "trip" });
const traces = await mastra.listTraces();
const trace = await mastra.getTrace(answer.traceId);
report({
  made,
  answer: answer.text,
  threads: threads.threads.map((t) => ({ id: t.id, title: t.title, resourceId: t.resourceId })),
  messages: messages.messages.map((m) => ({ role: m.role, parts: m.content.parts.map((p) => p.type) })),
  working,
  traces: traces.spans.map((s) => ({ traceId: s.traceId, spanType: s.spanType, entityId: s.entityId })),
  traceSpans: trace.spans.map((s) => s.spanType),
});
