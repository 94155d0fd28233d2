// The cloudfront-js-2.0 allow-list (runtime-2.0.mjs, from AWS's "JavaScript runtime 2.0 features" page), the
// run-time budgets (memory, steps, CPU) and the header rules: one test per rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CPU_BUDGET_MS,
  FunctionSourceError,
  MEMORY_BUDGET_BYTES,
  STEP_BUDGET,
  buildViewerRequestEvent,
  compileFunction,
  runFunction,
  validateSource,
} from '../cloudfront-function.mjs';
import { BUILTINS, RUNTIME_20_URL } from '../runtime-2.0.mjs';

const GET = (url = '/', rawHeaders = ['Host', 'd1.cloudfront.net']) => buildViewerRequestEvent({ method: 'GET', url, rawHeaders });
const wrap = (body) => `function handler(event) { ${body} }`;
const rejects = (source, message) => assert.throws(() => validateSource(source, 'f.js'),
  (err) => err instanceof FunctionSourceError && message.test(err.message) && err.message.includes(RUNTIME_20_URL),
  `${source} should be rejected with ${message}`);

async function run(body, event = GET()) {
  return runFunction(compileFunction(wrap(body), 'f.js'), event);
}

/** The JSON of `expr` evaluated inside the sandbox. */
async function probe(expr) {
  const result = await run(`return { statusCode: 200, body: JSON.stringify(${expr}) };`);
  assert.equal(result.status, undefined, result.message);
  return JSON.parse(result.response.body.toString());
}

describe('allow-list: the source', () => {
  it('the list is the runtime page, with its URL', () => {
    assert.equal(RUNTIME_20_URL, 'https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html');
    assert.ok(BUILTINS.String.proto.includes('replaceAll'), 'replaceAll is listed (ES 12, new in 2.0)');
    assert.ok(!BUILTINS.Array.static.includes('from'), 'Array.from is not listed');
  });

  it('rejects globals the runtime does not list', () => {
    for (const name of ['Map', 'Set', 'WeakMap', 'Reflect', 'Proxy', 'BigInt', 'Intl', 'structuredClone', 'setTimeout',
      'fetch', 'process', 'escape', 'queueMicrotask', 'AggregateError', 'Iterator']) {
      rejects(wrap(`return new ${name}();`), new RegExp(`f\\.js:1:\\d+: .*the global ${name} \\(not listed`));
    }
  });

  it('rejects static members the runtime does not list, including ones newer than the list', () => {
    for (const [expr, what] of [['Object.groupBy([], String)', 'Object.groupBy'], ['Object.fromEntries([])', 'Object.fromEntries'],
      ['Object.hasOwn({}, "a")', 'Object.hasOwn'], ['Array.from("ab")', 'Array.from'], ['String.raw', 'String.raw'],
      ['Promise.withResolvers()', 'Promise.withResolvers'], ['JSON.rawJSON("1")', 'JSON.rawJSON'], ['Math.f16round(1)', 'Math.f16round'],
      ['Array.prototype.at', 'Array.prototype.at'], ['String.prototype.at.call("a", 0)', 'String.prototype.at'],
      ['Symbol.iterator', 'Symbol.iterator'], ['Number.prototype.toSorted', 'Number.prototype.toSorted'],
      ['Uint8Array.prototype.at', 'Uint8Array.prototype.at']]) {
      rejects(wrap(`return ${expr};`), new RegExp(`unsupported in cloudfront-js-2.0: ${what.replace(/\./g, '\\.')} \\(`));
    }
  });

  it('rejects methods no listed object has (arr.toSorted(), s.at(), s.charCodeAt(), ...)', () => {
    for (const [call, name] of [['x.toSorted()', 'toSorted'], ['x.toReversed()', 'toReversed'], ['x.flat()', 'flat'],
      ['x.flatMap(String)', 'flatMap'], ['x.findLast(Boolean)', 'findLast'], ['x.keys()', 'keys'], ['x.at(0)', 'at'],
      ['x.charCodeAt(0)', 'charCodeAt'], ['x.normalize()', 'normalize'], ['x.localeCompare("b")', 'localeCompare'],
      ['x.matchAll(/a/g)', 'matchAll'], ["x['toSorted']()", 'toSorted'], ['x.isWellFormed()', 'isWellFormed'],
      ['x.entries()', 'entries'], ['x.with(0, 1)', 'with']]) {
      rejects(wrap(`var x = event.request.uri; return ${call};`), new RegExp(`the method ${name}\\(\\) \\(no listed object has it`));
    }
    // on a value whose type the source shows, its own prototype decides (includes is an Array method, keys is not)
    for (const [call, what] of [['[1].keys()', 'Array.prototype.keys'], ["'ab'.at(0)", 'String.prototype.at'],
      ['[1].values()', 'Array.prototype.values'], ['new Uint8Array(1).at(0)', 'Uint8Array.prototype.at'],
      ["'a'.includes('a') && [3, 1].toSorted()", 'Array.prototype.toSorted']]) {
      rejects(wrap(`return ${call};`), new RegExp(`${what.replace(/\./g, '\\.')}\\(\\) \\(not listed`));
    }
  });

  it('accepts what the page lists, and calls of methods the function defines itself', () => {
    const source = [
      "import cf from 'cloudfront';",
      'var helpers = { clean: function (s) { return s.trim(); } };',
      'var crypto = require("crypto");',
      'function handler(event) {',
      "  var s = helpers.clean(' a-b ').replaceAll('-', '_').padStart(4, '.').trimEnd();",
      '  var n = Number.isInteger(2 ** 3) && Math.trunc(1.5) === 1 && Number.EPSILON > 0;',
      '  var a = Array.of(3, 1, 2).sort().includes(2) && [1].findIndex(function (x) { return x === 1; }) === 0;',
      '  var o = Object.entries({ a: 1 }).length + Object.values({ b: 2 })[0] + Object.keys(Object.assign({}, { c: 3 })).length;',
      "  var u = new Uint8Array(2).fill(7).join(',') + Buffer.from('hi').toString('base64') + btoa('x') + atob('eA==');",
      "  var r = /(?<year>\\d{4})/y.exec('2026').groups.year + Symbol.for('k').toString() + JSON.stringify([s, n, a, o, u]);",
      "  var h = crypto.createHash('sha256').update(r).digest('hex').slice(0, 4);",
      '  console.log(r + h);',
      '  return Promise.allSettled([Promise.resolve(1)]).then(function () { return event.request; });',
      '}',
    ].join('\n');
    assert.doesNotThrow(() => validateSource(source, 'ok.js'));
  });

  it('rejects operators outside ES 5.1 + ** (e.g. **=)', () => {
    rejects(wrap('var x = 2; x **= 2; return event.request;'), /the \*\*= operator/);
    assert.doesNotThrow(() => validateSource(wrap('var x = 2 ** 2; x += 1; x >>>= 1; return typeof x === "number" && !(x in {}) ? event.request : null;')));
  });

  it('rejects regular expression flags whose accessors are not listed (s, u, d, v)', () => {
    rejects(wrap('return /a.b/s.test("a") ? event.request : null;'), /regular expression flag s \(listed: gimy\)/);
    rejects(wrap('return /a/u.test("a") ? event.request : null;'), /regular expression flag u/);
    assert.doesNotThrow(() => validateSource(wrap('return /a/gimy.test("a") ? event.request : null;')));
  });

  it('rejects console.log with several arguments', () => {
    rejects(wrap("console.log('a', 'b'); return event.request;"), /console\.log with several arguments/);
  });

  it("rejects require() of modules the runtime does not have, and the emulator's internal names", () => {
    rejects(wrap("require('fs'); return event.request;"), /require\(\) of anything but/);
    rejects(wrap('__cf_step(); return event.request;'), /names starting with __cf_/);
  });
});

describe('allow-list: the sandbox (what a computed name reaches at run time)', () => {
  it('unlisted methods are gone from the built-ins; listed ones are there', async () => {
    const kinds = await probe("[typeof []['to' + 'Sorted'], typeof Array['fr' + 'om'], typeof ''['a' + 't'], "
      + "typeof Object['group' + 'By'], typeof ''['replace' + 'All'], typeof []['incl' + 'udes'], typeof globalThis['Ma' + 'p'], "
      + "typeof new Uint8Array(1)['a' + 't'], typeof Promise['a' + 'ny'], typeof InternalError]");
    assert.deepEqual(kinds, ['undefined', 'undefined', 'undefined', 'undefined', 'function', 'function', 'undefined',
      'undefined', 'function', 'function']);
  });

  it('Object.create() takes no properties list', async () => {
    const result = await run('Object.create({}, { a: { value: 1 } }); return event.request;');
    assert.equal(result.status, 503);
    assert.match(result.message, /Object\.create\(\) with a properties list is not supported/);
  });

  it('implicit conversions still work (toString, valueOf, toJSON)', async () => {
    assert.deepEqual(await probe("['' + [1, 2], `${{}}`, JSON.stringify(new Date(0)), +new Number(3)]"),
      ['1,2', '[object Object]', '"1970-01-01T00:00:00.000Z"', 3]);
  });
});

describe('budgets', () => {
  it(`memory: more than ${MEMORY_BUDGET_BYTES} bytes allocated during the run -> 503`, async () => {
    const big = await run("var a = []; for (var i = 0; i < 1000; i++) { a.push(new Array(512).fill(i)); } return event.request;");
    assert.equal(big.status, 503);
    assert.match(big.message, /allocated more than 2097152 bytes of memory \(the 2 MB limit\)/);
    const small = await run("var a = []; for (var i = 0; i < 20; i++) { a.push(new Array(512).fill(i)); } return event.request;");
    assert.equal(small.status, undefined, small.message);
    assert.ok(small.usage.memoryBytes < MEMORY_BUDGET_BYTES);
  });

  it(`steps: more than ${STEP_BUDGET} function calls + loop iterations -> 503, counted (not timed)`, async () => {
    const over = await run(`for (var i = 0; i < ${STEP_BUDGET}; i++) {} return event.request;`);
    assert.equal(over.status, 503);
    assert.match(over.message, /exceeded the compute budget: more than 10000 steps/);
    const under = await run(`var f = function (x) { return x; }; for (var i = 0; i < ${STEP_BUDGET / 2 - 1}; i++) { f(i); } return event.request;`);
    assert.equal(under.status, undefined, under.message);
    assert.equal(under.usage.steps, STEP_BUDGET - 1); // handler + 4,999 × (iteration + call)
    assert.equal(under.usage.computeUtilization, 100);
  });

  it('steps: a try/catch cannot swallow the budget', async () => {
    const result = await run('try { while (true) {} } catch (e) {} return event.request;');
    assert.equal(result.status, 503);
    assert.match(result.message, /more than 10000 steps/);
  });

  it(`CPU: a built-in that runs long in one step (backtracking regex) -> 503 over ${CPU_BUDGET_MS} ms`, async () => {
    // 2^25 backtracking paths: far more than 10 ms of CPU on any machine, in a single step
    const result = await run("return /^(a+)+$/.test('a'.repeat(25) + 'b') ? event.request : event.request;");
    assert.equal(result.status, 503);
    assert.match(result.message, /exceeded the compute budget: .*at most 25 ms/);
    assert.equal(result.usage.steps, 1);
  });

  it('an async handler must settle without timers or I/O', async () => {
    const fn = compileFunction('async function handler(event) { await new Promise(function () {}); return event.request; }', 'f.js');
    const result = await runFunction(fn, GET());
    assert.equal(result.status, 503);
    assert.match(result.message, /did not settle/);
  });

  it('the real router is far inside every budget', async () => {
    const fs = await import('node:fs');
    const fn = compileFunction(fs.readFileSync(new URL('../../../infra/functions/spa-router.js', import.meta.url), 'utf8'), 'spa-router.js');
    const result = await runFunction(fn, GET('/chat/settings?x=1'));
    assert.equal(result.request.uri, '/index.html');
    assert.ok(result.usage.steps <= 10, `${result.usage.steps} steps`);
    assert.ok(result.usage.memoryBytes < MEMORY_BUDGET_BYTES / 4, `${result.usage.memoryBytes} bytes`);
  });
});

describe('headers', () => {
  const headers = ['Host', 'd1.cloudfront.net', 'Via', '1.1 proxy', 'Content-Length', '0', 'Transfer-Encoding', 'chunked'];
  for (const [what, body] of [
    ['changing host', "event.request.headers.host = { value: 'evil.example' };"],
    ['removing host', 'delete event.request.headers.host;'],
    ['changing via', "event.request.headers.via = { value: '2.0 x' };"],
    ['removing content-length', "delete event.request.headers['content-length'];"],
    ['changing transfer-encoding', "event.request.headers['transfer-encoding'] = { value: 'gzip' };"],
  ]) {
    it(`read-only request headers: ${what} -> 502`, async () => {
      const result = await run(`${body} return event.request;`, GET('/', headers));
      assert.equal(result.status, 502);
      assert.match(result.message, /header is read-only/);
    });
  }

  it('read-only request headers: adding via where the viewer sent none -> 502', async () => {
    const result = await run("event.request.headers.via = { value: '1.1 x' }; return event.request;");
    assert.equal(result.status, 502);
    assert.match(result.message, /the via header is read-only/);
  });

  for (const name of ['connection', 'upgrade', 'x-forwarded-proto', 'x-amz-cf-pop', 'x-edge-location', 'x-amzn-requestid']) {
    it(`disallowed headers: adding ${name} to the request or a response -> 502`, async () => {
      const request = await run(`event.request.headers['${name}'] = { value: 'x' }; return event.request;`);
      assert.equal(request.status, 502);
      assert.match(request.message, new RegExp(`the ${name} header is disallowed`));
      const response = await run(`return { statusCode: 200, headers: { '${name}': { value: 'x' } } };`);
      assert.equal(response.status, 502);
    });
  }

  it('disallowed headers sent by the viewer are not exposed to the function', () => {
    const event = GET('/', ['Host', 'h', 'Connection', 'keep-alive', 'Upgrade', 'websocket', 'X-Forwarded-Proto', 'https',
      'X-Edge-Thing', '1', 'Accept', '*/*']);
    assert.deepEqual(Object.keys(event.request.headers), ['host', 'accept']);
  });
});
