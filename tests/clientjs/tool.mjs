// A registered tool: details(), then execute() with its input under `data`.
import { client, report } from "./_client.mjs";

const tool = client().getTool("add");
const details = await tool.details();
const result = await tool.execute({ data: { a: 2, b: 3 } });
report({ details, result });
