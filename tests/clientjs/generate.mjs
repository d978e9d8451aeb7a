// generate() on an agent whose model calls the server-side tool `add`, then answers.
import { client, report } from "./_client.mjs";

const output = await client().getAgent("calc").generate("What is 2 + 3?");
report({
  text: output.text,
  finishReason: output.finishReason,
  runId: output.runId,
  toolCalls: output.toolCalls,
  toolResults: output.toolResults,
});
