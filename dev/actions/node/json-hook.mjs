// A module hook (node:module register) for helper.mjs: @actions/workflow-parser imports its JSON
// schemas without `with { type: "json" }` (it is published for bundlers), which Node refuses; this
// hands those files over as ES modules exporting the parsed JSON.
import fs from "node:fs";

export async function load(url, context, next) {
  if (url.startsWith("file:") && url.endsWith(".json") && url.includes("/node_modules/@actions/")) {
    const text = fs.readFileSync(new URL(url), "utf8");
    return { format: "module", source: `export default ${text};`, shortCircuit: true };
  }
  return next(url, context);
}
