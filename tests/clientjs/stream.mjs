// stream() as a user reads it: the chunks through processDataStream, the text reassembled from text-delta chunks;
// then a stream whose tool call waits for approval, and approveToolCall() streaming the rest of the run.
import { client, report } from "./_client.mjs";

const agent = client().getAgent("calc");

async function chunksOf(response) {
  const chunks = [];
  await response.processDataStream({ onChunk: async (chunk) => { chunks.push(chunk); } });
  return chunks;
}

const textOf = (chunks) => chunks.filter((c) => c.type === "text-delta").map((c) => c.payload.text).join("");

const streamed = await chunksOf(await agent.stream("What is 2 + 3?"));
const paused = await chunksOf(await agent.stream("What is 2 + 3?", { requireToolApproval: true }));
const waiting = paused.find((c) => c.type === "tool-call-approval");
const rest = await chunksOf(await agent.approveToolCall({ runId: waiting.runId, toolCallId: waiting.payload.toolCallId }));
report({
  kinds: streamed.map((c) => c.type),
  text: textOf(streamed),
  toolCall: streamed.find((c) => c.type === "tool-call")?.payload,
  finish: streamed.at(-1)?.payload?.stepResult?.reason,
  paused: { kinds: paused.map((c) => c.type), toolName: waiting.payload.toolName },
  rest: { text: textOf(rest), results: rest.filter((c) => c.type === "tool-result").map((c) => c.payload.result) },
});
