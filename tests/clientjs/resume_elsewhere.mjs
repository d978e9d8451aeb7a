// Resuming from a fresh handle, as Mastra's client docs show it for another process or request:
//   const run = await workflow.createRun({ runId: prevRunId }); await run.resumeAsync({ step, resumeData })
import { client, outcome, report } from "./_client.mjs";

const workflow = client().getWorkflow("ship");
const first = await workflow.createRun();
const started = await first.startAsync({ inputData: { item: "lamp" } });
const handle = await outcome(workflow.createRun({ runId: first.runId }));
if (!handle.ok) {
  report({ started: started.status, handle });
} else {
  const resumed = await outcome(handle.value.resumeAsync({ step: "confirm", resumeData: { ok: true } }));
  report({ started: started.status, handle: { ok: true, runId: handle.value.runId }, resumed });
}
