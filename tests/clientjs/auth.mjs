// A server behind authentication: with the token in the client's `headers` the calls go through, without it they
// are refused with 401 (client-js does not retry a 4xx).
import { MastraClient } from "@mastra/client-js";
import { args, outcome, report } from "./_client.mjs";

const signedIn = new MastraClient({ baseUrl: process.env.MASTRA_URL, retries: 0,
                                    headers: { Authorization: `Bearer ${args.token}` } });
const anonymous = new MastraClient({ baseUrl: process.env.MASTRA_URL, retries: 0 });
const agents = await outcome(signedIn.listAgents());
const answer = await outcome(signedIn.getAgent("calc").generate("What is 2 + 3?"));
const refused = await outcome(anonymous.listAgents());
report({
  agents: agents.ok ? Object.keys(agents.value) : agents,
  answer: answer.ok ? answer.value.text : answer,
  refused: refused.ok ? "accepted" : { status: refused.status, code: refused.body?.code },
});
