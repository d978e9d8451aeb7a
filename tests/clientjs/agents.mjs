// listAgents(), then one agent's details().
import { client, report } from "./_client.mjs";

const mastra = client();
const agents = await mastra.listAgents();
const details = await mastra.getAgent("calc").details();
report({ agents, details });
