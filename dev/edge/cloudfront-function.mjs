// A local emulator of the CloudFront Functions runtime (cloudfront-js-2.0), strict enough that code which
// runs here also runs at the edge. It follows the CloudFront developer guide's function pages (event
// structure, restrictions, quotas, testing) and the runtime's feature page, turned into an allow-list in
// runtime-2.0.mjs:
//  - the source is parsed (acorn) and walked: every statement, operator, global, static member of a built-in
//    and method called must be one the runtime lists (?., ??, destructuring, spread, classes, for-of,
//    Map/Set/Reflect, Array.from, Object.groupBy, arr.toSorted(), s.at(), ... are rejected with
//    file:line:column); > 10 KB is rejected;
//  - each invocation runs in a fresh `vm` context, strict, with only the listed globals and the listed
//    methods on the built-ins (the others are deleted, so a computed call fails too), a stubbed
//    `import cf from 'cloudfront'`, `require` limited to crypto/querystring/buffer, a Date frozen at the start
//    of the invocation, and a one-string console.log;
//  - budgets (see README "Budgets"): 2 MB of memory allocated during the run, STEP_BUDGET steps (function
//    calls + loop iterations, counted by instrumentation: deterministic) and CPU_BUDGET_MS of CPU time;
//  - the viewer-request event has the real shape (lowercase headers, cookies split out, querystring object,
//    multiValue only on repeated names, percent-encoding kept as sent, disallowed headers not exposed);
//  - the handler's return is validated: a throw, a bad return or an exceeded budget is a 503; a changed
//    read-only header or an added disallowed header a 502.
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import querystring from 'node:querystring';
import { TextDecoder, TextEncoder } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Parser } from 'acorn';
import {
  ASSIGNMENT_OPERATORS, BINARY_OPERATORS, BUILTINS, ERROR_TYPES, EXPRESSION_NODES, GLOBALS, HASH_ALGORITHMS,
  LOGICAL_OPERATORS, METHOD_NAMES, MODULES, READ_ONLY_REQUEST_HEADERS, REGEXP_FLAGS, REQUIRABLE, RUNTIME_20_URL,
  STATEMENT_NODES, TYPED_ARRAYS, UNARY_OPERATORS, UPDATE_OPERATORS, isDisallowedHeader,
} from './runtime-2.0.mjs';

export const MAX_SOURCE_BYTES = 10 * 1024;
export const MAX_BODY_BYTES = 40 * 1024;
export const MAX_LOG_BYTES = 10 * 1024;
/** "Maximum memory: 2 MB" (CloudFront Functions quotas). */
export const MEMORY_BUDGET_BYTES = 2 * 1024 * 1024;
/**
 * Steps = function entries + loop iterations. CloudFront stops a function at about 1 ms of compute
 * (ComputeUtilization 100). Its interpreter spends roughly 10-50 ns per bytecode and a step is at least
 * a handful of bytecodes, so 1 ms is in the order of 5,000-20,000 steps: 10,000. Counted, not timed, so a
 * loaded machine gives the same verdict.
 */
export const STEP_BUDGET = 10000;
/**
 * CPU time of the run (the handler and what it awaits), for work the step count cannot see (a built-in
 * doing a lot in one call: a backtracking regular expression, a huge sort). Measured as
 * min(process CPU time, wall time) around the run: other processes inflate wall time but not our CPU
 * time, our background threads (GC, JIT) inflate process CPU time but not wall time. The step budget is
 * the ~1 ms rule; V8 runs each fresh context's code cold (no JIT carried over), so a full 10,000-step run
 * takes 3-7 ms of CPU here on a loaded 2-core machine: 25 ms keeps that from ever failing on CPU time
 * while a single heavy built-in call is still stopped 8x sooner than the former 200 ms wall clock.
 */
export const CPU_BUDGET_MS = 25;
/** A runaway built-in is interrupted after this much wall time (then reported as over the CPU budget). */
const BACKSTOP_TIMEOUT_MS = 1000;
/** Memory is sampled every this many steps (and at the end of the run). */
const MEMORY_SAMPLE_STEPS = 64;
const INTERNAL_PREFIX = '__cf_';

/** A function source the runtime would refuse; the message names file:line:column. */
export class FunctionSourceError extends Error {
  constructor(file, loc, message) {
    super(loc ? `${file}:${loc.line}:${loc.column + 1}: ${message}` : `${file}: ${message}`);
    this.name = 'FunctionSourceError';
  }
}

const ALLOWED_NODES = new Set([...STATEMENT_NODES, ...EXPRESSION_NODES]);

const DESCRIBE = {
  ChainExpression: 'optional chaining (?.)',
  ObjectPattern: 'destructuring',
  ArrayPattern: 'destructuring',
  AssignmentPattern: 'default parameter values',
  SpreadElement: 'spread (...)',
  ClassDeclaration: 'classes',
  ClassExpression: 'classes',
  ForOfStatement: 'for-of loops',
  YieldExpression: 'generators',
  TaggedTemplateExpression: 'tagged templates',
  ImportExpression: 'dynamic import()',
  MetaProperty: 'new.target / import.meta',
  Super: 'super',
  ExportNamedDeclaration: 'exports (CloudFront calls the global handler; export nothing)',
  ExportDefaultDeclaration: 'exports (CloudFront calls the global handler; export nothing)',
  ExportAllDeclaration: 'exports (CloudFront calls the global handler; export nothing)',
  ImportSpecifier: "named imports (only `import cf from 'cloudfront'` exists)",
  ImportNamespaceSpecifier: "namespace imports (only `import cf from 'cloudfront'` exists)",
  DebuggerStatement: 'debugger',
  WithStatement: 'with',
};

function reject(file, node, what) {
  throw new FunctionSourceError(file, node.loc && node.loc.start,
    `unsupported in cloudfront-js-2.0: ${what} (not listed in ${RUNTIME_20_URL})`);
}

/** Name of a member access when it is static: `a.b` or `a['b']`. */
function memberName(node) {
  if (!node.computed && node.property.type === 'Identifier') return node.property.name;
  if (node.computed && node.property.type === 'Literal' && typeof node.property.value === 'string') return node.property.value;
  return null;
}

function checkNode(file, node, parent, key, ctx) {
  if (!ALLOWED_NODES.has(node.type)) reject(file, node, DESCRIBE[node.type] ?? node.type);
  switch (node.type) {
    case 'LogicalExpression':
      if (node.operator === '??') reject(file, node, 'nullish coalescing (??)');
      if (!LOGICAL_OPERATORS.includes(node.operator)) reject(file, node, `the ${node.operator} operator`);
      break;
    case 'BinaryExpression':
      if (!BINARY_OPERATORS.includes(node.operator)) reject(file, node, `the ${node.operator} operator`);
      break;
    case 'UnaryExpression':
      if (!UNARY_OPERATORS.includes(node.operator)) reject(file, node, `the ${node.operator} operator`);
      break;
    case 'UpdateExpression':
      if (!UPDATE_OPERATORS.includes(node.operator)) reject(file, node, `the ${node.operator} operator`);
      break;
    case 'AssignmentExpression':
      if (['||=', '&&=', '??='].includes(node.operator)) reject(file, node, `logical assignment (${node.operator})`);
      if (!ASSIGNMENT_OPERATORS.includes(node.operator)) reject(file, node, `the ${node.operator} operator`);
      if (node.left.type !== 'Identifier' && node.left.type !== 'MemberExpression') reject(file, node, 'destructuring');
      break;
    case 'Property':
      if (parent.type !== 'ObjectExpression') reject(file, node, 'destructuring');
      if (node.computed) reject(file, node, 'computed property names');
      if (node.method) reject(file, node, 'method shorthand');
      if (node.shorthand) reject(file, node, 'shorthand properties');
      break;
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      if (node.generator) reject(file, node, 'generators');
      if (node.async && node.type !== 'FunctionDeclaration') reject(file, node, 'async closures');
      break;
    case 'RestElement':
      if (key !== 'params' || node.argument.type !== 'Identifier') reject(file, node, 'rest elements outside parameters');
      break;
    case 'CatchClause':
      if (!node.param) reject(file, node, 'optional catch binding');
      if (node.param.type !== 'Identifier') reject(file, node, 'destructuring');
      break;
    case 'VariableDeclarator':
      if (node.id.type !== 'Identifier') reject(file, node, 'destructuring');
      break;
    case 'Literal':
      if (node.bigint !== undefined) reject(file, node, 'BigInt');
      if (node.regex) {
        const bad = [...node.regex.flags].filter((f) => !REGEXP_FLAGS.includes(f));
        if (bad.length) reject(file, node, `regular expression flag${bad.length > 1 ? 's' : ''} ${bad.join('')} (listed: ${REGEXP_FLAGS})`);
      }
      break;
    case 'ImportDeclaration':
      if (parent.type !== 'Program' || node.source.value !== 'cloudfront' || node.specifiers.length !== 1
        || node.specifiers[0].type !== 'ImportDefaultSpecifier') {
        reject(file, node, "imports other than `import cf from 'cloudfront'`");
      }
      break;
    case 'AwaitExpression':
      if (ctx.asyncDepth === 0) reject(file, node, 'await outside an async function');
      break;
    case 'Identifier':
      if (node.name.startsWith(INTERNAL_PREFIX)) reject(file, node, `names starting with ${INTERNAL_PREFIX} (the emulator's own)`);
      if (isReference(node, parent, key) && !ctx.declared.has(node.name) && !GLOBALS.has(node.name)) {
        reject(file, node, `the global ${node.name}`);
      }
      break;
    case 'MemberExpression':
      checkMember(file, node, ctx);
      break;
    case 'CallExpression':
      checkCall(file, node, ctx);
      break;
    default:
      break;
  }
}

/** Is this Identifier a variable reference (not a property name, label or declaration)? */
function isReference(node, parent, key) {
  if (!parent) return false;
  switch (parent.type) {
    case 'MemberExpression': return key === 'object' || parent.computed;
    case 'Property': return key === 'value';
    case 'LabeledStatement': case 'BreakStatement': case 'ContinueStatement': return false;
    case 'VariableDeclarator': return key === 'init';
    case 'FunctionDeclaration': case 'FunctionExpression': case 'ArrowFunctionExpression': return key === 'body';
    case 'RestElement': case 'CatchClause': case 'ImportDefaultSpecifier': return false;
    default: return true;
  }
}

/** The built-in a static member access starts from: `Object` in `Object.x`, `Array` in `Array.prototype.x`. */
function builtinBase(node, ctx) {
  if (node.type === 'Identifier' && BUILTINS[node.name] && !ctx.declared.has(node.name)) return { name: node.name, proto: false };
  if (node.type === 'Identifier' && node.name === 'Buffer' && !ctx.declared.has('Buffer')) return { name: 'Buffer', proto: false, module: true };
  if (node.type === 'MemberExpression' && memberName(node) === 'prototype') {
    const base = builtinBase(node.object, ctx);
    if (base && !base.proto) return { ...base, proto: true };
  }
  return null;
}

function checkMember(file, node, ctx) {
  const base = builtinBase(node.object, ctx);
  if (!base) return;
  const name = memberName(node);
  if (name === null) return; // computed: the trimmed built-ins decide at run time
  const table = base.module ? MODULES[base.name] : BUILTINS[base.name];
  const list = base.proto ? table.proto : table.static;
  const always = base.proto ? ['constructor'] : ['prototype', 'length', 'name'];
  if (list === null && base.proto) reject(file, node, `${base.name}.prototype`);
  if (!list.includes(name) && !always.includes(name)) {
    reject(file, node.property, `${base.name}${base.proto ? '.prototype' : ''}.${name}`);
  }
}

/** The built-in whose prototype a literal or `new X()` receiver has, when the source shows it. */
function literalType(node, ctx) {
  if (node.type === 'ArrayExpression') return 'Array';
  if (node.type === 'TemplateLiteral') return 'String';
  if (node.type === 'Literal') {
    if (node.regex) return 'RegExp';
    return { string: 'String', number: 'Number', boolean: 'Boolean' }[typeof node.value] ?? null;
  }
  if (node.type === 'NewExpression' && node.callee.type === 'Identifier' && !ctx.declared.has(node.callee.name)) {
    if (TYPED_ARRAYS.includes(node.callee.name)) return 'TypedArray';
    if (BUILTINS[node.callee.name]?.proto) return node.callee.name;
  }
  return null;
}

function checkCall(file, node, ctx) {
  const callee = node.callee;
  if (callee.type === 'MemberExpression') {
    const name = memberName(callee);
    const type = literalType(callee.object, ctx);
    if (name !== null && type !== null) {
      const own = [...BUILTINS[type].proto, ...BUILTINS.Object.proto];
      if (!own.includes(name)) reject(file, callee.property, `${type === 'TypedArray' ? callee.object.callee.name : type}.prototype.${name}()`);
    } else if (name !== null && !builtinBase(callee.object, ctx) && !METHOD_NAMES.has(name) && !ctx.ownProperties.has(name)) {
      reject(file, callee.property, `the method ${name}() (no listed object has it, and this function defines no property of that name)`);
    }
    if (name === 'log' && callee.object.type === 'Identifier' && callee.object.name === 'console' && node.arguments.length > 1) {
      reject(file, node, "console.log with several arguments (use console.log('a' + ' ' + 'b'))");
    }
  }
  if (callee.type === 'Identifier' && callee.name === 'require' && !ctx.declared.has('require')) {
    const arg = node.arguments[0];
    if (node.arguments.length !== 1 || arg.type !== 'Literal' || !REQUIRABLE.includes(arg.value)) {
      reject(file, node, `require() of anything but ${REQUIRABLE.map((m) => `'${m}'`).join(', ')}`);
    }
  }
}

function children(node) {
  const out = [];
  for (const k of Object.keys(node)) {
    if (k === 'loc' || k === 'start' || k === 'end' || k === 'regex') continue;
    const value = node[k];
    if (Array.isArray(value)) {
      for (const child of value) if (child && typeof child.type === 'string') out.push([k, child]);
    } else if (value && typeof value === 'object' && typeof value.type === 'string') {
      out.push([k, value]);
    }
  }
  return out;
}

/** Names the program declares anywhere, and property names it defines (own methods may be called). */
function collectNames(ast) {
  const declared = new Set();
  const ownProperties = new Set();
  const visit = (node) => {
    switch (node.type) {
      case 'VariableDeclarator': if (node.id.type === 'Identifier') declared.add(node.id.name); break;
      case 'FunctionDeclaration': case 'FunctionExpression': case 'ArrowFunctionExpression':
        if (node.id) declared.add(node.id.name);
        for (const p of node.params) {
          if (p.type === 'Identifier') declared.add(p.name);
          if (p.type === 'RestElement' && p.argument.type === 'Identifier') declared.add(p.argument.name);
        }
        break;
      case 'CatchClause': if (node.param && node.param.type === 'Identifier') declared.add(node.param.name); break;
      case 'ImportDefaultSpecifier': declared.add(node.local.name); break;
      case 'Property':
        if (node.key.type === 'Identifier') ownProperties.add(node.key.name);
        if (node.key.type === 'Literal') ownProperties.add(String(node.key.value));
        break;
      case 'AssignmentExpression':
        if (node.left.type === 'MemberExpression') {
          const name = memberName(node.left);
          if (name !== null) ownProperties.add(name);
        }
        break;
      default: break;
    }
    for (const [, child] of children(node)) visit(child);
  };
  visit(ast);
  return { declared, ownProperties };
}

function walk(file, node, parent, key, ctx) {
  checkNode(file, node, parent, key, ctx);
  const isFunction = node.type.endsWith('FunctionExpression') || node.type === 'FunctionDeclaration';
  const inner = isFunction ? { ...ctx, asyncDepth: node.async ? ctx.asyncDepth + 1 : 0 } : ctx;
  for (const [k, child] of children(node)) walk(file, child, node, k, inner);
}

/**
 * Checks a function's source against the runtime's limits and returns the parsed program.
 * Throws FunctionSourceError naming file:line:column.
 */
export function validateSource(source, file = 'function.js') {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > MAX_SOURCE_BYTES) {
    throw new FunctionSourceError(file, null, `source is ${bytes} bytes; CloudFront Functions allow at most ${MAX_SOURCE_BYTES} (comments count)`);
  }
  let ast;
  try {
    // ES2021 = ES 12, the newest edition the runtime takes parts of; module goal = always strict.
    ast = Parser.parse(source, { ecmaVersion: 2021, sourceType: 'module', locations: true });
  } catch (err) {
    throw new FunctionSourceError(file, err.loc ? { line: err.loc.line, column: err.loc.column } : null,
      `syntax error: ${err.message.replace(/ \(\d+:\d+\)$/, '')}`);
  }
  walk(file, ast, null, null, { asyncDepth: 0, ...collectNames(ast) });
  const handler = ast.body.find((n) => n.type === 'FunctionDeclaration' && n.id.name === 'handler');
  if (!handler) throw new FunctionSourceError(file, null, 'no top-level `function handler(event)` declaration');
  return ast;
}

/**
 * Inserts a step count at the start of every function body and every loop iteration. Insertions stay on
 * their line, so line numbers in errors are the source's.
 */
function instrument(source, ast) {
  const edits = []; // [position, order (0 = closing first), text]
  const step = `${INTERNAL_PREFIX}step();`;
  const visit = (node) => {
    const body = node.body;
    const isFunction = node.type.endsWith('FunctionExpression') || node.type === 'FunctionDeclaration';
    const isLoop = ['ForStatement', 'ForInStatement', 'WhileStatement', 'DoWhileStatement'].includes(node.type);
    if (isFunction || isLoop) {
      if (body.type === 'BlockStatement') edits.push([body.start + 1, 1, step]);
      else if (isFunction) edits.push([body.start, 1, `(${INTERNAL_PREFIX}step(), `], [body.end, 0, ')']);
      else edits.push([body.start, 1, `{${step}`], [body.end, 0, '}']);
    }
    for (const [, child] of children(node)) visit(child);
  };
  visit(ast);
  edits.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let out = '';
  let at = 0;
  for (const [pos, , text] of edits) {
    out += source.slice(at, pos) + text;
    at = pos;
  }
  return out + source.slice(at);
}

/** A stub of the `cloudfront` module: its helpers need CloudFront itself (KeyValueStore, origins). */
function cloudfrontStub() {
  const unavailable = (name) => () => {
    throw new Error(`cloudfront.${name}() is not emulated by dev/edge`);
  };
  return {
    kvs: unavailable('kvs'),
    updateRequestOrigin: unavailable('updateRequestOrigin'),
    selectRequestOriginById: unavailable('selectRequestOriginById'),
    createRequestOriginGroup: unavailable('createRequestOriginGroup'),
  };
}

/** Parses, validates and compiles a function source once; run it with runFunction. */
export function compileFunction(source, file = 'function.js') {
  const ast = validateSource(source, file);
  // Replace `import cf from 'cloudfront'` by a var bound to the stub, keeping line and column numbers.
  let code = source;
  for (const node of ast.body) {
    if (node.type !== 'ImportDeclaration') continue;
    const name = node.specifiers[0].local.name;
    const text = `var ${name} = ${INTERNAL_PREFIX}cloudfront;`;
    const original = source.slice(node.start, node.end);
    const padded = text + original.replace(/[^\n]/g, ' ').slice(text.length);
    code = code.slice(0, node.start) + padded + code.slice(node.end);
  }
  code = instrument(code, Parser.parse(code, { ecmaVersion: 2021, sourceType: 'script', allowReturnOutsideFunction: false }));
  const script = new vm.Script(`'use strict';${code}`, { filename: file });
  return { file, source, script };
}

export function loadFunction(path) {
  return compileFunction(fs.readFileSync(path, 'utf8'), path);
}

// Globals the runtime lists (runtime-2.0.mjs); everything else in a fresh context (Map, Set, Proxy,
// Reflect, WeakRef, WebAssembly, Intl, BigInt, eval, escape, ...) is removed.
const KEEP_GLOBALS = [
  ...Object.keys(BUILTINS).filter((n) => !['TypedArray', 'console', 'TextDecoder', 'TextEncoder', 'InternalError'].includes(n)),
  'parseInt', 'parseFloat', 'isNaN', 'isFinite', 'encodeURI', 'encodeURIComponent', 'decodeURI', 'decodeURIComponent',
  'NaN', 'Infinity', 'undefined', 'globalThis',
];
// Properties every prototype keeps: the language calls them implicitly.
const ALWAYS_KEEP = ['constructor', 'toString', 'valueOf', 'toJSON'];

// Runs inside each fresh context before the function: trims the globals and the built-ins to the list,
// adds InternalError, freezes Date, makes Object.create refuse a properties list.
const PRELUDE = `(function (g, keep, builtins, typedArrays, always, fixed) {
  var construct = Reflect.construct;
  var getProto = Object.getPrototypeOf;
  Object.getOwnPropertyNames(g).forEach(function (name) {
    if (keep.indexOf(name) === -1) { try { delete g[name]; } catch (e) {} }
  });
  function trim(target, allowed) {
    if (!target) return;
    Object.getOwnPropertyNames(target).forEach(function (name) {
      var d = Object.getOwnPropertyDescriptor(target, name);
      if (typeof d.value === 'function' && allowed.indexOf(name) === -1 && always.indexOf(name) === -1) {
        try { delete target[name]; } catch (e) {}
      }
    });
  }
  var TypedArray = getProto(g.Uint8Array);
  Object.keys(builtins).forEach(function (name) {
    var ctor = name === 'TypedArray' ? TypedArray : g[name];
    if (!ctor) return;
    trim(ctor, builtins[name].static.concat(['prototype']));
    if (builtins[name].proto) trim(ctor.prototype, builtins[name].proto);
  });
  typedArrays.forEach(function (name) { trim(g[name].prototype, []); });
  var InternalError = function InternalError(message) {
    if (!(this instanceof InternalError)) return new InternalError(message);
    var e = construct(Error, arguments, InternalError);
    return e;
  };
  InternalError.prototype = Object.create(Error.prototype, {
    constructor: { value: InternalError, writable: true, configurable: true },
    name: { value: 'InternalError', writable: true, configurable: true },
  });
  g.InternalError = InternalError;
  var create = Object.create;
  Object.create = function create1(proto) {
    if (arguments.length > 1 && arguments[1] !== undefined) {
      throw new TypeError('Object.create() with a properties list is not supported by cloudfront-js-2.0');
    }
    return create(proto);
  };
  var RealDate = g.Date;
  var FrozenDate = function Date() {
    if (!(this instanceof FrozenDate)) return new RealDate(fixed).toString();
    if (arguments.length === 0) return new RealDate(fixed);
    return construct(RealDate, arguments);
  };
  FrozenDate.prototype = RealDate.prototype;
  FrozenDate.now = function now() { return fixed; };
  FrozenDate.parse = RealDate.parse;
  FrozenDate.UTC = RealDate.UTC;
  g.Date = FrozenDate;
})`;

// Calls the handler on the event (parsed inside the sandbox, so it belongs to the sandbox's realm) and
// reports the outcome; an async handler's promise settles while the context drains its microtasks.
const INVOKE = new vm.Script(`(function () {
  var result = handler(JSON.parse(${INTERNAL_PREFIX}event));
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    // sandbox closures: a reaction job runs in its callback's realm, and only the sandbox's queue drains here
    result.then(function (v) { ${INTERNAL_PREFIX}done(v); }, function (e) { ${INTERNAL_PREFIX}fail(e); });
  } else {
    ${INTERNAL_PREFIX}done(result);
  }
})();`, { filename: 'cloudfront-invoke' });

function cryptoModule() {
  const check = (algorithm) => {
    if (!HASH_ALGORITHMS.includes(algorithm)) throw new Error(`unsupported hash algorithm ${algorithm} (the runtime offers ${HASH_ALGORITHMS.join(', ')})`);
    return algorithm;
  };
  return {
    createHash: (algorithm) => crypto.createHash(check(algorithm)),
    createHmac: (algorithm, key) => crypto.createHmac(check(algorithm), key),
  };
}

const MODULE_VALUES = { crypto: cryptoModule(), querystring, buffer: { Buffer } };

/** Bytes in use: V8's heap plus memory outside it (array buffers, Buffers). */
function heapBytes() {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

/** What one heapBytes() call allocates itself (its result object), so a sample does not count itself. */
const SAMPLE_COST = (() => {
  const before = heapBytes();
  for (let i = 0; i < 63; i++) heapBytes();
  return Math.max(0, Math.round((heapBytes() - before) / 64));
})();

/** A meter of one run: steps (deterministic), memory allocated (sampled), CPU time. */
class Meter {
  constructor() {
    this.steps = 0;
    this.allocated = 0;
    this.exceeded = null;
    this.lastHeap = heapBytes();
  }

  sampleMemory() {
    const heap = heapBytes();
    // Memory the run allocated: a GC in between makes the difference negative; CloudFront's runtime
    // frees nothing until the run ends, so garbage counts too.
    if (heap > this.lastHeap + SAMPLE_COST) this.allocated += heap - this.lastHeap - SAMPLE_COST;
    this.lastHeap = heap;
    if (this.allocated > MEMORY_BUDGET_BYTES && !this.exceeded) {
      this.exceeded = `the function allocated more than ${MEMORY_BUDGET_BYTES} bytes of memory (the 2 MB limit)`;
    }
  }

  /** Called by the sandbox's step counter every MEMORY_SAMPLE_STEPS steps and on every step over budget. */
  report(steps) {
    this.steps = steps;
    if (this.steps > STEP_BUDGET && !this.exceeded) {
      this.exceeded = `the function exceeded the compute budget: more than ${STEP_BUDGET} steps (function calls + loop iterations; CloudFront allows about 1 ms)`;
    }
    this.sampleMemory();
    // Once over a budget, every further step throws (a try/catch in the function cannot outrun it).
    if (this.exceeded) throw new RangeError(this.exceeded);
  }
}

// The step counter lives in the sandbox (a call across realms per step would cost more than the step);
// it reports to the meter every MEMORY_SAMPLE_STEPS steps and on every step over the budget.
const STEPPER = new vm.Script(`(function (report, every, limit) {
  var n = 0;
  function step() { n++; if (n > limit || n % every === 0) report(n); }
  step.count = function () { return n; };
  return step;
})`, { filename: 'cloudfront-steps' });

function createContext(now, logs, meter, eventJson, outcome) {
  const context = vm.createContext({}, { codeGeneration: { strings: false, wasm: false }, microtaskMode: 'afterEvaluate' });
  vm.runInContext(PRELUDE, context)(vm.runInContext('globalThis', context), KEEP_GLOBALS, BUILTINS, TYPED_ARRAYS,
    ALWAYS_KEEP, now);
  let logBytes = 0;
  const sandboxGlobals = {
    console: {
      log(message) {
        // The runtime takes one string; anything else is logged as its string form.
        const line = String(message);
        if (logBytes + line.length > MAX_LOG_BYTES) return;
        logBytes += line.length;
        logs.push(line);
      },
    },
    require(name) {
      if (!Object.hasOwn(MODULE_VALUES, name)) throw new Error(`Cannot find module '${name}' (the runtime offers crypto, querystring, buffer)`);
      return MODULE_VALUES[name];
    },
    Buffer,
    TextDecoder,
    TextEncoder,
    atob: (s) => Buffer.from(String(s), 'base64').toString('latin1'),
    btoa: (s) => Buffer.from(String(s), 'latin1').toString('base64'),
    [`${INTERNAL_PREFIX}cloudfront`]: cloudfrontStub(),
    [`${INTERNAL_PREFIX}step`]: meter.stepper = STEPPER.runInContext(context)((n) => meter.report(n), MEMORY_SAMPLE_STEPS, STEP_BUDGET),
    [`${INTERNAL_PREFIX}event`]: eventJson,
    [`${INTERNAL_PREFIX}done`]: (value) => { outcome.settled = true; outcome.value = value; },
    [`${INTERNAL_PREFIX}fail`]: (error) => { outcome.settled = true; outcome.error = error ?? new Error(String(error)); },
  };
  for (const [name, value] of Object.entries(sandboxGlobals)) {
    Object.defineProperty(context, name, { value, writable: false, enumerable: false, configurable: false });
  }
  return context;
}

function headerPairs(rawHeaders) {
  const pairs = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i].toLowerCase(), rawHeaders[i + 1]]);
  return pairs;
}

/** Adds a {value, multiValue?} entry: multiValue appears only once a name repeats; value stays the first. */
function addValue(map, name, value) {
  const existing = map[name];
  if (!existing) {
    map[name] = { value };
  } else {
    if (!existing.multiValue) existing.multiValue = [{ value: existing.value }];
    existing.multiValue.push({ value });
  }
}

/** Splits a raw query string as sent (no decoding): `?a=1&a=2&flag` → {a:{value:'1',multiValue:[…]}, flag:{value:''}}. */
export function parseQuerystring(raw) {
  const out = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    addValue(out, eq === -1 ? part : part.slice(0, eq), eq === -1 ? '' : part.slice(eq + 1));
  }
  return out;
}

function parseCookies(cookieHeaders) {
  const out = {};
  for (const header of cookieHeaders) {
    for (const piece of header.split(';')) {
      const part = piece.trim();
      if (part === '') continue;
      const eq = part.indexOf('=');
      addValue(out, eq === -1 ? part : part.slice(0, eq), eq === -1 ? '' : part.slice(eq + 1));
    }
  }
  return out;
}

/**
 * Builds the viewer-request event CloudFront hands to the function.
 * `url` is the request target exactly as received (path + '?' + query), never decoded.
 */
export function buildViewerRequestEvent({ method, url, rawHeaders, ip, distributionDomainName, distributionId, requestId }) {
  const q = url.indexOf('?');
  const uri = q === -1 ? url : url.slice(0, q);
  const headers = {};
  const cookieHeaders = [];
  for (const [name, value] of headerPairs(rawHeaders)) {
    if (name === 'cookie') cookieHeaders.push(value);
    else if (!isDisallowedHeader(name)) addValue(headers, name, value); // not exposed to functions
  }
  return {
    version: '1.0',
    context: {
      distributionDomainName: distributionDomainName ?? 'd111111abcdef8.cloudfront.net',
      distributionId: distributionId ?? 'EDFDVBD6EXAMPLE',
      eventType: 'viewer-request',
      requestId: requestId ?? randomBytes(21).toString('base64url'),
    },
    viewer: { ip: ip ?? '127.0.0.1' },
    request: {
      method,
      uri,
      querystring: parseQuerystring(q === -1 ? '' : url.slice(q + 1)),
      headers,
      cookies: parseCookies(cookieHeaders),
    },
  };
}

function isValueMap(map, { lowercase }) {
  if (map === undefined) return true;
  if (!map || typeof map !== 'object' || Array.isArray(map)) return false;
  return Object.entries(map).every(([name, entry]) => {
    if (lowercase && name !== name.toLowerCase()) return false;
    if (!entry || typeof entry.value !== 'string') return false;
    if (entry.multiValue === undefined) return true;
    return Array.isArray(entry.multiValue) && entry.multiValue.every((m) => m && typeof m.value === 'string');
  });
}

function headerProblem(headers, event) {
  for (const name of Object.keys(headers ?? {})) {
    if (isDisallowedHeader(name)) return { status: 502, message: `the ${name} header is disallowed: a function cannot add it` };
  }
  if (!event) return null;
  for (const name of READ_ONLY_REQUEST_HEADERS) {
    const before = JSON.stringify(event.request.headers[name]);
    const after = JSON.stringify((headers ?? {})[name]);
    if (before !== after) return { status: 502, message: `the ${name} header is read-only` };
  }
  return null;
}

function validateResult(result, event) {
  if (!result || typeof result !== 'object' || Array.isArray(result)) {
    return { status: 503, message: `handler returned ${JSON.stringify(result) ?? 'undefined'}, not a request or a response` };
  }
  if ('statusCode' in result) {
    const r = result;
    if (!Number.isInteger(r.statusCode) || r.statusCode < 200 || r.statusCode > 599) {
      return { status: 503, message: `response statusCode must be an integer 200-599, got ${JSON.stringify(r.statusCode)}` };
    }
    if (r.statusDescription !== undefined && typeof r.statusDescription !== 'string') {
      return { status: 503, message: 'response statusDescription must be a string' };
    }
    if (!isValueMap(r.headers, { lowercase: true })) return { status: 503, message: 'response headers must be {lowercase-name: {value}}' };
    if (!isValueMap(r.cookies, { lowercase: false })) return { status: 503, message: 'response cookies must be {name: {value}}' };
    const problem = headerProblem(r.headers, null);
    if (problem) return problem;
    let body;
    if (r.body === undefined) body = Buffer.alloc(0);
    else if (typeof r.body === 'string') body = Buffer.from(r.body, 'utf8');
    else if (r.body && typeof r.body.data === 'string' && (r.body.encoding === 'text' || r.body.encoding === 'base64')) {
      body = Buffer.from(r.body.data, r.body.encoding === 'base64' ? 'base64' : 'utf8');
    } else return { status: 503, message: 'response body must be a string or {data, encoding: "text"|"base64"}' };
    if (body.length > MAX_BODY_BYTES) return { status: 503, message: `response body is ${body.length} bytes; at most ${MAX_BODY_BYTES}` };
    return { response: { statusCode: r.statusCode, statusDescription: r.statusDescription, headers: r.headers ?? {}, cookies: r.cookies ?? {}, body } };
  }
  const req = result;
  if (typeof req.uri !== 'string' || !req.uri.startsWith('/')) {
    return { status: 503, message: `request.uri must be a string starting with '/', got ${JSON.stringify(req.uri)}` };
  }
  if (req.method !== event.request.method) return { status: 503, message: 'request.method is read-only' };
  if (!isValueMap(req.headers, { lowercase: true })) return { status: 503, message: 'request headers must be {lowercase-name: {value}}' };
  if (!isValueMap(req.querystring, { lowercase: false })) return { status: 503, message: 'request querystring must be {name: {value}}' };
  if (!isValueMap(req.cookies, { lowercase: false })) return { status: 503, message: 'request cookies must be {name: {value}}' };
  const problem = headerProblem(req.headers, event);
  if (problem) return problem;
  return { request: { method: req.method, uri: req.uri, querystring: req.querystring ?? {}, headers: req.headers ?? {}, cookies: req.cookies ?? {} } };
}

/**
 * Runs the compiled function on one event in a fresh context, synchronously to completion (the runtime
 * has no timers or I/O: an async handler settles while its microtasks drain).
 * Resolves to {request} | {response} | {status: 502|503, message}, plus {logs, usage}; usage =
 * {steps, memoryBytes, cpuMs, computeUtilization} (utilization: % of the step budget, like TestFunction's).
 */
export async function runFunction(compiled, event, { now = Date.now() } = {}) {
  const logs = [];
  const meter = new Meter();
  const outcome = { settled: false };
  let cpuMs = 0;
  const usage = () => ({
    steps: meter.steps, memoryBytes: meter.allocated, cpuMs: Math.round(cpuMs * 1000) / 1000,
    computeUtilization: Math.min(100, Math.ceil((100 * meter.steps) / STEP_BUDGET)),
  });
  try {
    const context = createContext(now, logs, meter, JSON.stringify(event), outcome);
    meter.lastHeap = heapBytes();
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    let interrupted = null;
    try {
      compiled.script.runInContext(context, { timeout: BACKSTOP_TIMEOUT_MS });
      INVOKE.runInContext(context, { timeout: BACKSTOP_TIMEOUT_MS });
    } catch (err) {
      if (err && err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') interrupted = err;
      else if (!outcome.settled) { outcome.settled = true; outcome.error = err; }
    } finally {
      const cpu = process.cpuUsage(cpu0);
      const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
      cpuMs = Math.min((cpu.user + cpu.system) / 1000, wallMs);
      meter.steps = meter.stepper.count();
      meter.sampleMemory();
    }
    if (interrupted || cpuMs > CPU_BUDGET_MS) {
      return { status: 503, message: `the function exceeded the compute budget: ${interrupted ? `still running after ${BACKSTOP_TIMEOUT_MS} ms` : `${cpuMs.toFixed(1)} ms of CPU time`}, at most ${CPU_BUDGET_MS} ms (CloudFront allows about 1 ms)`, logs, usage: usage() };
    }
    if (meter.exceeded) return { status: 503, message: meter.exceeded, logs, usage: usage() };
    if (!outcome.settled) {
      return { status: 503, message: 'the async handler did not settle (the runtime has no timers or I/O to wait for)', logs, usage: usage() };
    }
    if ('error' in outcome) {
      const err = outcome.error;
      return { status: 503, message: `handler threw: ${err && err.message ? err.message : String(err)}`, logs, usage: usage() };
    }
    // Copy out of the sandbox's realm; what JSON cannot carry, CloudFront cannot either.
    const plain = outcome.value === undefined ? undefined : JSON.parse(JSON.stringify(outcome.value));
    return { ...validateResult(plain, event), logs, usage: usage() };
  } catch (err) {
    return { status: 503, message: `handler threw: ${err && err.message ? err.message : String(err)}`, logs, usage: usage() };
  }
}
