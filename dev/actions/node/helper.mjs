// GitHub's own workflow parser and expression evaluator, for the rehearsal (dev/actions/rehearse.py)
// and the workflow lint (dev/ci/stages/65-workflows.sh). Nothing here evaluates by hand: parsing,
// schema validation (keys, types, the contexts and functions each key allows) and expression
// semantics are @actions/workflow-parser and @actions/expressions (github.com/actions/languageservices,
// the libraries behind GitHub's own workflow editor); hashFiles() is the runner's algorithm on
// @actions/glob, the globber the runner's hashFiles script uses.
//
//   node helper.mjs validate FILE...     parse + convert each workflow (or action.yml); print each
//                                        error as FILE (Line: L, Col: C): message; exit 1 on any
//   node helper.mjs serve                JSON lines on stdin/stdout, one request a line (below)
//
// Requests (serve): {"op": "workflow"|"action", "path": P} -> {"errors": [...], "tree": T, "jobs": [...]}
// where T is the parsed template: strings, numbers, booleans, null, arrays, objects, and each
// expression as {"$expr": EXPRESSION, "$ctx": N} (N: the allowed contexts of its key, kept here);
// {"op": "eval", "contexts": {...}, "status": S, "workspace": W, "items": [{"value": T, "want":
// "string"|"bool"|"any"}]} -> {"results": [{"value": V} | {"error": MESSAGE}]}.
import { register } from "node:module";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import readline from "node:readline";

// The parser imports its JSON schemas without an import attribute (it is built for bundlers);
// Node wants one, so the hook hands those files over as modules.
register("./json-hook.mjs", import.meta.url);
const wp = await import("@actions/workflow-parser");
const { parseAction, convertActionTemplate } = await import("@actions/workflow-parser/actions/index");
const ex = await import("@actions/expressions");
const { splitAllowedContext } = await import("@actions/workflow-parser/templates/allowed-context");
const { truthy } = await import("@actions/expressions/result");
const globLib = await import("@actions/glob");

const T = { String: 0, Sequence: 1, Mapping: 2, BasicExpression: 3, InsertExpression: 4, Boolean: 5, Number: 6, Null: 7 };
const allowedTable = [];
const allowedIndex = new Map();

function ctxIndex(token) {
  const allowed = token.definitionInfo?.allowedContext || [];
  const key = allowed.join("\n");
  if (!allowedIndex.has(key)) {
    allowedIndex.set(key, allowedTable.length);
    allowedTable.push(splitAllowedContext(allowed));
  }
  return allowedIndex.get(key);
}

function serialize(token) {
  if (token === undefined || token === null) return null;
  switch (token.templateTokenType) {
    case T.String: return token.value;
    case T.Boolean: return token.value;
    case T.Number: return token.value;
    case T.Null: return null;
    case T.Sequence: return [...token].map(serialize);
    case T.Mapping: {
      const out = {};
      for (const pair of token) {
        out[pair.key.isExpression ? `\${{ ${pair.key.expression} }}` : pair.key.toString()] = serialize(pair.value);
      }
      return out;
    }
    case T.BasicExpression: return { $expr: token.expression, $ctx: ctxIndex(token) };
    case T.InsertExpression: return { $insert: true };
    default: throw new Error(`unknown token type ${token.templateTokenType}`);
  }
}

function readFile(p) {
  return { name: p, content: fs.readFileSync(p, "utf8") };
}

function errorsOf(context) {
  return context.errors.getErrors().map(e => e.message);
}

async function workflow(p) {
  const parsed = wp.parseWorkflow(readFile(p), new wp.NoOperationTraceWriter());
  let errors = errorsOf(parsed.context);
  const out = { errors, tree: parsed.value ? serialize(parsed.value) : null, jobs: [], events: null };
  if (errors.length || !parsed.value) return out;
  // The conversion checks what the schema cannot: each `if:` (its contexts and functions, with
  // GitHub's implied success()), `needs` naming existing jobs without a cycle, step ids.
  const template = await wp.convertWorkflowTemplate(parsed.context, parsed.value);
  out.errors = errors = errorsOf(parsed.context).concat((template.errors || []).map(e => e.Message))
    .filter((m, i, all) => all.indexOf(m) === i);
  out.events = template.events;
  out.jobs = (template.jobs || []).map(job => ({
    id: job.id.value,
    type: job.type,
    needs: (job.needs || []).map(n => n.value),
    // (validated by the conversion with the key's exact contexts; evaluated with the if tables below)
    if: { $expr: job.if ? job.if.expression : "success()", $ctx: "job-if" },
    steps: (job.steps || []).map(step => ({
      id: step.id,
      if: { $expr: step.if ? step.if.expression : "success()", $ctx: "step-if" },
    })),
  }));
  return out;
}

function action(p) {
  const parsed = parseAction(readFile(p), new wp.NoOperationTraceWriter());
  const out = { errors: errorsOf(parsed.context), tree: parsed.value ? serialize(parsed.value) : null };
  if (!out.errors.length && parsed.value) {
    convertActionTemplate(parsed.context, parsed.value);
    out.errors = errorsOf(parsed.context);
  }
  return out;
}

// --- evaluation ---------------------------------------------------------------------------------

// hashFiles(), as the runner computes it (actions/runner src/Misc/expressionFunc/hashFiles/src/
// hashFiles.ts): @actions/glob over the patterns (one per argument), run from GITHUB_WORKSPACE;
// files outside the workspace and directories skipped; the sha256 of each file's sha256, in the
// globber's order; '' when nothing matched.
async function hashFiles(workspace, patterns) {
  const result = crypto.createHash("sha256");
  let matched = false;
  const cwd = process.cwd();
  process.chdir(workspace);
  try {
    const globber = await globLib.create(patterns.join("\n"), { followSymbolicLinks: false });
    for await (const file of globber.globGenerator()) {
      if (!file.startsWith(workspace + path.sep)) continue;
      if (fs.statSync(file).isDirectory()) continue;
      result.update(crypto.createHash("sha256").update(fs.readFileSync(file)).digest());
      matched = true;
    }
  } finally {
    process.chdir(cwd);
  }
  return matched ? result.digest("hex") : "";
}

// hashFiles is asynchronous (a glob) while the evaluator is not: its calls are found first,
// computed, and the evaluator is handed the results.
function hashFilesCalls(node, found) {
  if (!node || typeof node !== "object") return;
  if (node instanceof ex.Expr && node.functionName && node.functionName.lexeme.toLowerCase() === "hashfiles") {
    found.push(node);
  }
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) v.forEach(x => hashFilesCalls(x, found));
    else if (v && typeof v === "object" && v !== node) hashFilesCalls(v, found);
  }
}

function statusFunctions(status, hashes) {
  // The job's status as the runner's expression functions see it (actions/runner
  // src/Runner.Worker/Expressions/{Success,Failure,Cancelled,Always}Function.cs): success() while
  // nothing failed and the run is not cancelled, failure() once something failed, cancelled() once
  // the run is cancelled, always() always.
  const fn = (name, call, maxArgs = 0) => [name.toLowerCase(), { name, minArgs: 0, maxArgs, call }];
  return new Map([
    fn("success", () => new ex.data.BooleanData(status === "success")),
    fn("failure", () => new ex.data.BooleanData(status === "failure")),
    fn("cancelled", () => new ex.data.BooleanData(status === "cancelled")),
    fn("always", () => new ex.data.BooleanData(true)),
    ["hashfiles", { name: "hashFiles", minArgs: 1, maxArgs: 255, call: (...args) => {
      const key = args.map(a => a.coerceString()).join("\n");
      if (!hashes.has(key)) throw new Error(`hashFiles(${key}): not computed`);
      return new ex.data.StringData(hashes.get(key));
    } }],
  ]);
}

// A step's `if:` contexts and functions (GitHub's "Contexts" reference, context availability), for
// conditions that are plain strings in their file (an action's post-if and pre-if).
const STEP_IF = {
  namedContexts: ["github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps", "inputs"],
  functions: [["always", 0], ["cancelled", 0], ["success", 0], ["failure", 0], ["hashFiles", 255]]
    .map(([name, maxArgs]) => ({ name, minArgs: name === "hashFiles" ? 1 : 0, maxArgs })),
};

const JOB_IF = {
  namedContexts: ["github", "needs", "vars", "inputs"],
  functions: STEP_IF.functions.filter(f => f.name !== "hashFiles"),
};

async function evaluateExpr(source, ctxIdx, contexts, status, workspace) {
  const allowed = ctxIdx === "step-if" ? STEP_IF : ctxIdx === "job-if" ? JOB_IF
    : allowedTable[ctxIdx] || { namedContexts: [], functions: [] };
  const lexed = new ex.Lexer(source).lex();
  const tree = new ex.Parser(lexed.tokens, allowed.namedContexts, allowed.functions).parse();
  const calls = [];
  hashFilesCalls(tree, calls);
  const hashes = new Map();
  for (const call of calls) {
    const args = call.args.map(a => new ex.Evaluator(a, contexts, statusFunctions(status, hashes)).evaluate().coerceString());
    if (!workspace) throw new Error("hashFiles() needs the job's workspace");
    hashes.set(args.join("\n"), await hashFiles(workspace, args));
  }
  return new ex.Evaluator(tree, contexts, statusFunctions(status, hashes)).evaluate();
}

function kindName(v) {
  return ["string", "array", "object", "boolean", "number", "object", "null"][v.kind] || "value";
}

// A leaf where the runner wants a string: a primitive converts as the runner converts it (numbers
// as GitHub formats them, booleans as true/false, null as ''); an array or an object is an error,
// as the runner's template evaluator reports it for a string-typed key.
function asString(v) {
  if (v.primitive) return v.kind === ex.data.Null.prototype.kind || v.kind === 6 ? "" : v.coerceString();
  throw new Error(`a ${kindName(v)} was not expected where a string is (wrap it in toJSON())`);
}

function plain(v) {
  return JSON.parse(JSON.stringify(v, ex.data.replacer));
}

async function evalValue(value, want, contexts, status, workspace) {
  if (value && typeof value === "object" && !Array.isArray(value) && "$expr" in value) {
    const v = await evaluateExpr(value.$expr, value.$ctx, contexts, status, workspace);
    if (want === "bool") return truthy(v);
    if (want === "string") return asString(v);
    return plain(v);
  }
  if (Array.isArray(value)) {
    const out = [];
    for (const x of value) out.push(await evalValue(x, want, contexts, status, workspace));
    return out;
  }
  if (value && typeof value === "object") {
    if (value.$insert) throw new Error("an insert expression (${{ insert }}) is not modelled");
    const out = {};
    for (const [k, x] of Object.entries(value)) out[k] = await evalValue(x, want, contexts, status, workspace);
    return out;
  }
  if (want === "bool") return truthy(JSON.parse(JSON.stringify(value ?? null), ex.data.reviver));
  if (want === "string") return value === null ? "" : JSON.parse(JSON.stringify(value), ex.data.reviver).coerceString();
  return value;
}

async function evaluate(req) {
  const contexts = JSON.parse(JSON.stringify(req.contexts || {}), ex.data.reviver);
  const results = [];
  for (const item of req.items) {
    try {
      results.push({ value: await evalValue(item.value, item.want || "string", contexts, req.status || "success", req.workspace) });
    } catch (e) {
      results.push({ error: e.message || String(e) });
    }
  }
  return { results };
}

async function handle(req) {
  switch (req.op) {
    case "workflow": return workflow(req.path);
    case "action": return action(req.path);
    case "eval": return evaluate(req);
    default: throw new Error(`unknown op ${req.op}`);
  }
}

async function serve() {
  // Replies are the only lines on stdout: what the libraries print (@actions/glob logs through
  // @actions/core, which writes workflow commands to stdout) goes to stderr.
  const reply = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr);
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (e) {
      answer = { fatal: e.stack || String(e) };
    }
    reply(JSON.stringify(answer) + "\n");
  }
}

async function validate(files) {
  let bad = 0;
  for (const f of files) {
    const isAction = /(^|\/)action\.ya?ml$/.test(f);
    const res = isAction ? action(f) : await workflow(f);
    for (const e of res.errors) console.log(e.startsWith(f) ? e : `${f}: ${e}`);
    if (res.errors.length) bad++;
    else console.log(`${f}: valid (${isAction ? "action" : `workflow, ${res.jobs.length} job(s)`})`);
  }
  return bad ? 1 : 0;
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "serve") await serve();
else if (cmd === "validate" && rest.length) process.exitCode = await validate(rest);
else {
  console.error("usage: node helper.mjs validate FILE... | serve");
  process.exitCode = 2;
}
