// What a user's `catch` sees: an unknown agent, and a tool given a string where it takes an integer.
import { client, outcome, report } from "./_client.mjs";

const mastra = client();
const missingAgent = await outcome(mastra.getAgent("nope").details());
const badInput = await outcome(mastra.getTool("add").execute({ data: { a: "two", b: 3 } }));
report({ missingAgent, badInput });
