// generate() with requireToolApproval, then approveToolCallGenerate() as Mastra's client docs show it:
//   if (output.finishReason === 'suspended') agent.approveToolCallGenerate({ runId: output.runId,
//                                                   toolCallId: output.suspendPayload.toolCallId })
// Then the same approval again, which must be refused (the call was decided).
import { client, outcome, report } from "./_client.mjs";

const agent = client().getAgent("calc");
const first = await agent.generate("What is 2 + 3?", { requireToolApproval: true });
const waiting = { finishReason: first.finishReason, runId: first.runId, suspendPayload: first.suspendPayload };
// Documented: suspendPayload.toolCallId. Also read our server's current shape, so the approval route itself is
// exercised even while the shapes differ (the test for the documented shape says which one was used).
const documented = first.suspendPayload?.toolCallId;
const toolCallId = documented ?? first.suspendPayload?.pendingApprovals?.[0]?.toolCallId;
const approved = await outcome(agent.approveToolCallGenerate({ runId: first.runId, toolCallId }));
const again = await outcome(agent.approveToolCallGenerate({ runId: first.runId, toolCallId }));
report({
  waiting,
  usedDocumentedToolCallId: documented !== undefined,
  approved: approved.ok ? { ok: true, text: approved.value.text, finishReason: approved.value.finishReason } : approved,
  again: again.ok ? { ok: true } : { ok: false, status: again.status, body: again.body },
});
