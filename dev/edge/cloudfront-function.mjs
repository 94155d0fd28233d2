// A local emulator of the CloudFront Functions runtime (cloudfront-js-2.0), strict enough that code which
// runs here also runs at the edge. It follows the "Emulator checklist" in shared/facts/cloudfront.md:
//  - the source is parsed (acorn, ES2021) and any syntax the runtime does not list is rejected with
//    file:line:column (?., ??, destructuring, spread, classes, for-of, generators, ...); > 10 KB is rejected;
//  - each invocation runs in a fresh `vm` context, strict, with only the runtime's globals (no process,
//    fetch, timers, eval/Function from strings), a stubbed `import cf from 'cloudfront'`, `require` limited
//    to crypto/querystring/buffer, a Date frozen at the start of the invocation, and a one-string console.log;
//  - the viewer-request event has the real shape (lowercase headers, cookies split out, querystring object,
//    multiValue only on repeated names, percent-encoding kept as sent);
//  - the handler's return is validated: a throw or a bad return is a 503, a changed read-only header a 502.
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import querystring from 'node:querystring';
import vm from 'node:vm';
import { Parser } from 'acorn';

export const MAX_SOURCE_BYTES = 10 * 1024;
export const MAX_BODY_BYTES = 40 * 1024;
export const MAX_LOG_BYTES = 10 * 1024;
const SYNC_TIMEOUT_MS = 200;
const ASYNC_TIMEOUT_MS = 1000;

/** A function source the runtime would refuse; the message names file:line:column. */
export class FunctionSourceError extends Error {
  constructor(file, loc, message) {
    super(loc ? `${file}:${loc.line}:${loc.column + 1}: ${message}` : `${file}: ${message}`);
    this.name = 'FunctionSourceError';
  }
}

// ES5.1 node types, plus the ES6+ parts the runtime lists: let/const, template literals, arrow functions,
// rest parameters, async/await, ** (an operator, not a node type).
const ALLOWED_NODES = new Set([
  'Program', 'ExpressionStatement', 'BlockStatement', 'EmptyStatement', 'ReturnStatement', 'LabeledStatement',
  'BreakStatement', 'ContinueStatement', 'IfStatement', 'SwitchStatement', 'SwitchCase', 'ThrowStatement',
  'TryStatement', 'CatchClause', 'WhileStatement', 'DoWhileStatement', 'ForStatement', 'ForInStatement',
  'FunctionDeclaration', 'VariableDeclaration', 'VariableDeclarator', 'ThisExpression', 'ArrayExpression',
  'ObjectExpression', 'Property', 'FunctionExpression', 'ArrowFunctionExpression', 'UnaryExpression',
  'UpdateExpression', 'BinaryExpression', 'AssignmentExpression', 'LogicalExpression', 'MemberExpression',
  'ConditionalExpression', 'CallExpression', 'NewExpression', 'SequenceExpression', 'Identifier', 'Literal',
  'TemplateLiteral', 'TemplateElement', 'AwaitExpression', 'RestElement', 'ImportDeclaration',
  'ImportDefaultSpecifier',
]);

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
  throw new FunctionSourceError(file, node.loc && node.loc.start, `unsupported in cloudfront-js-2.0: ${what}`);
}

function checkNode(file, node, parent, key, asyncDepth) {
  if (!ALLOWED_NODES.has(node.type)) reject(file, node, DESCRIBE[node.type] ?? node.type);
  switch (node.type) {
    case 'LogicalExpression':
      if (node.operator === '??') reject(file, node, 'nullish coalescing (??)');
      break;
    case 'AssignmentExpression':
      if (['||=', '&&=', '??='].includes(node.operator)) reject(file, node, `logical assignment (${node.operator})`);
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
      if (typeof node.value === 'number' && node.raw.includes('_')) reject(file, node, 'numeric separators');
      break;
    case 'ImportDeclaration':
      if (parent.type !== 'Program' || node.source.value !== 'cloudfront' || node.specifiers.length !== 1
        || node.specifiers[0].type !== 'ImportDefaultSpecifier') {
        reject(file, node, "imports other than `import cf from 'cloudfront'`");
      }
      break;
    case 'AwaitExpression':
      if (asyncDepth === 0) reject(file, node, 'await outside an async function');
      break;
    default:
      break;
  }
}

function walk(file, node, parent, key, asyncDepth) {
  checkNode(file, node, parent, key, asyncDepth);
  const isFunction = node.type.endsWith('FunctionExpression') || node.type === 'FunctionDeclaration';
  const depth = isFunction ? (node.async ? asyncDepth + 1 : 0) : asyncDepth;
  for (const k of Object.keys(node)) {
    if (k === 'loc' || k === 'start' || k === 'end') continue;
    const value = node[k];
    if (Array.isArray(value)) {
      for (const child of value) if (child && typeof child.type === 'string') walk(file, child, node, k, depth);
    } else if (value && typeof value === 'object' && typeof value.type === 'string') {
      walk(file, value, node, k, depth);
    }
  }
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
  walk(file, ast, null, null, 0);
  const handler = ast.body.find((n) => n.type === 'FunctionDeclaration' && n.id.name === 'handler');
  if (!handler) throw new FunctionSourceError(file, null, 'no top-level `function handler(event)` declaration');
  return ast;
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
    const text = `var ${name} = __cloudfront__;`;
    const original = source.slice(node.start, node.end);
    const padded = text + original.replace(/[^\n]/g, ' ').slice(text.length);
    code = code.slice(0, node.start) + padded + code.slice(node.end);
  }
  const script = new vm.Script(`'use strict';${code}`, { filename: file });
  return { file, source, script };
}

export function loadFunction(path) {
  return compileFunction(fs.readFileSync(path, 'utf8'), path);
}

// Globals the runtime provides (ES 5.1 objects plus the listed ES6+ ones); everything else in a fresh
// context (Proxy, Reflect, WeakRef, WebAssembly, Intl, eval, ...) is removed.
const KEEP_GLOBALS = [
  'Object', 'Function', 'Array', 'String', 'Number', 'Boolean', 'Symbol', 'Date', 'Math', 'JSON', 'RegExp',
  'Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'Promise',
  'ArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'parseInt', 'parseFloat', 'isNaN', 'isFinite',
  'encodeURI', 'encodeURIComponent', 'decodeURI', 'decodeURIComponent', 'escape', 'unescape', 'NaN',
  'Infinity', 'undefined', 'globalThis',
];

const PRELUDE = `(function (g, keep, fixed) {
  var construct = Reflect.construct;
  Object.getOwnPropertyNames(g).forEach(function (name) {
    if (keep.indexOf(name) === -1) { try { delete g[name]; } catch (e) {} }
  });
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

const REQUIRABLE = { crypto, querystring, buffer: { Buffer } };

function createContext(now, logs) {
  const context = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
  vm.runInContext(PRELUDE, context)(vm.runInContext('globalThis', context), KEEP_GLOBALS, now);
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
      if (!Object.hasOwn(REQUIRABLE, name)) throw new Error(`Cannot find module '${name}' (the runtime offers crypto, querystring, buffer)`);
      return REQUIRABLE[name];
    },
    Buffer,
    atob: (s) => Buffer.from(String(s), 'base64').toString('latin1'),
    btoa: (s) => Buffer.from(String(s), 'latin1').toString('base64'),
    __cloudfront__: cloudfrontStub(),
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
    else addValue(headers, name, value);
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

const READ_ONLY_HEADERS = ['host'];

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
  for (const name of READ_ONLY_HEADERS) {
    const before = JSON.stringify(event.request.headers[name]);
    const after = JSON.stringify((req.headers ?? {})[name]);
    if (before !== after) return { status: 502, message: `the ${name} header is read-only` };
  }
  return { request: { method: req.method, uri: req.uri, querystring: req.querystring ?? {}, headers: req.headers ?? {}, cookies: req.cookies ?? {} } };
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rejectFn) => {
      timer = setTimeout(() => rejectFn(new Error(`async handler did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs the compiled function on one event in a fresh context.
 * Resolves to {request} | {response} | {status: 502|503, message}, plus {logs}.
 */
export async function runFunction(compiled, event, { now = Date.now() } = {}) {
  const logs = [];
  try {
    const context = createContext(now, logs);
    compiled.script.runInContext(context, { timeout: SYNC_TIMEOUT_MS });
    let result = vm.runInContext(`handler(${JSON.stringify(event)})`, context, { timeout: SYNC_TIMEOUT_MS });
    if (result && typeof result.then === 'function') result = await withTimeout(result, ASYNC_TIMEOUT_MS);
    // Copy out of the sandbox's realm; what JSON cannot carry, CloudFront cannot either.
    const plain = result === undefined ? undefined : JSON.parse(JSON.stringify(result));
    return { ...validateResult(plain, event), logs };
  } catch (err) {
    return { status: 503, message: `handler threw: ${err && err.message ? err.message : String(err)}`, logs };
  }
}
