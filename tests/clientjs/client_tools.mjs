// generate() with a tool the client runs itself (clientTools): the server ends the first run with the tool's call,
// client-js runs `execute` here and calls generate again with the result; the answer uses what the client returned.
import { client, report } from "./_client.mjs";

const ran = [];
const answer = await client().getAgent("calc").generate("What time is it in Paris?", {
  clientTools: {
    local_time: {
      id: "local_time",
      description: "The local time in a city, from the user's machine.",
      inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      execute: async (args) => { ran.push(args); return { time: "10:00" }; },
    },
  },
});
report({ ran, text: answer.text, finishReason: answer.finishReason });
