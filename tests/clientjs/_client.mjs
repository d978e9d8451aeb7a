// Shared by the scenarios: the client as a user builds it, and a way to print what a call gave or threw.
import { MastraClient } from "@mastra/client-js";

/** The client for the server at MASTRA_URL. `retries: 0`: client-js retries a 5xx three times with backoff. */
export function client() {
  return new MastraClient({ baseUrl: process.env.MASTRA_URL, retries: 0 });
}

/** The keyword arguments `run_node` was given. */
export const args = JSON.parse(process.env.SCENARIO_ARGS || "{}");

/** What a rejected call tells a user (a `MastraClientError` carries the status and the parsed body). */
export async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, name: error.name, status: error.status, message: error.message, body: error.body };
  }
}

/** Print the scenario's result as the last line of stdout, where `run_node` reads it. */
export function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}
