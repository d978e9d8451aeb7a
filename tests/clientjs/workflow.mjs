// The workflow `ship`: a run is created, started (its one step suspends to ask), listed, resumed, read back.
import { client, report } from "./_client.mjs";

const workflow = client().getWorkflow("ship");
const run = await workflow.createRun();
const started = await run.startAsync({ inputData: { item: "book" } });
const listed = await workflow.runs();
const resumed = await run.resumeAsync({ step: "confirm", resumeData: { ok: true } });
const read = await workflow.runById(run.runId);
report({ runId: run.runId, started, listed, resumed, read });
