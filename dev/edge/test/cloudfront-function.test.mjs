import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FunctionSourceError,
  MAX_SOURCE_BYTES,
  buildViewerRequestEvent,
  compileFunction,
  parseQuerystring,
  runFunction,
  validateSource,
} from '../cloudfront-function.mjs';

const GET = (url, rawHeaders = ['Host', 'example.com']) => buildViewerRequestEvent({ method: 'GET', url, rawHeaders });

/** Compiles `body` as a handler that returns a 200 response whose body is the JSON of `expr`. */
async function probe(expr, { now, prelude = '' } = {}) {
  const fn = compileFunction(`${prelude}\nfunction handler(event) { return { statusCode: 200, body: JSON.stringify(${expr}) }; }`, 'probe.js');
  const result = await runFunction(fn, GET('/'), now === undefined ? {} : { now });
  assert.equal(result.status, undefined, result.message);
  return JSON.parse(result.response.body.toString());
}

describe('viewer-request event', () => {
  it('has the CloudFront shape: lowercase headers, cookies split out, multiValue only on repeats', () => {
    const event = buildViewerRequestEvent({
      method: 'GET',
      url: '/chat?a=1&a=2&flag&q=%2F%20x',
      rawHeaders: ['Host', 'd1.cloudfront.net', 'X-Thing', 'one', 'x-thing', 'two', 'Accept', '*/*',
        'Cookie', 'sid=abc; theme=dark', 'Cookie', 'sid=def'],
      ip: '203.0.113.9',
      requestId: 'req-1',
      distributionId: 'E1',
      distributionDomainName: 'd1.cloudfront.net',
    });
    assert.deepEqual(event, {
      version: '1.0',
      context: { distributionDomainName: 'd1.cloudfront.net', distributionId: 'E1', eventType: 'viewer-request', requestId: 'req-1' },
      viewer: { ip: '203.0.113.9' },
      request: {
        method: 'GET',
        uri: '/chat',
        querystring: {
          a: { value: '1', multiValue: [{ value: '1' }, { value: '2' }] },
          flag: { value: '' },
          q: { value: '%2F%20x' },
        },
        headers: {
          host: { value: 'd1.cloudfront.net' },
          'x-thing': { value: 'one', multiValue: [{ value: 'one' }, { value: 'two' }] },
          accept: { value: '*/*' },
        },
        cookies: {
          sid: { value: 'abc', multiValue: [{ value: 'abc' }, { value: 'def' }] },
          theme: { value: 'dark' },
        },
      },
    });
  });

  it('keeps percent-encoding in the uri and gives {} for no query', () => {
    const event = GET('/u/jane%2Edoe/%E2%9C%93');
    assert.equal(event.request.uri, '/u/jane%2Edoe/%E2%9C%93');
    assert.deepEqual(event.request.querystring, {});
    assert.deepEqual(parseQuerystring('&&x=%41&'), { x: { value: '%41' } });
  });
});

describe('runtime sandbox', () => {
  it('offers none of Node: no process, fetch, timers, eval, fs', async () => {
    const g = (name) => `typeof globalThis.${name}`;
    const types = await probe(`[${['process', 'fetch', 'setTimeout', 'setInterval', 'queueMicrotask', 'eval', 'Proxy', 'Reflect',
      'WebAssembly', 'require'].map(g).join(', ')}]`);
    assert.deepEqual(types, ['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'function']);
  });

  it('require gives crypto, querystring and buffer only', async () => {
    const out = await probe("[require('crypto').createHash('sha256').update('x').digest('hex').slice(0, 8), "
      + "require('querystring').parse('a=1').a, typeof require('buffer').Buffer, "
      + "(function () { var r = require; try { r('f' + 's'); return 'loaded'; } catch (e) { return 'refused'; } })()]");
    assert.deepEqual(out, ['2d711642', '1', 'function', 'refused']);
    assert.throws(() => validateSource("function handler(e) { require('fs'); return e; }", 'f.js'),
      /f\.js:1:23: .*require\(\) of anything but 'crypto', 'querystring', 'buffer'/);
  });

  it('refuses code generation from strings', async () => {
    const fn = compileFunction("function handler(event) { return Function('return 1')(); }", 'f.js');
    const result = await runFunction(fn, GET('/'));
    assert.equal(result.status, 503);
    assert.match(result.message, /Code generation from strings disallowed/);
  });

  it('freezes Date at the start of each invocation', async () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    assert.deepEqual(await probe('[Date.now(), new Date().toISOString(), new Date(0).getTime()]', { now }),
      [now, '2026-11-25T12:00:00.000Z', 0]);
    assert.deepEqual(await probe('[Date.now()]', { now: now + 5 }), [now + 5]);
  });

  it('runs each invocation in a fresh context: globals do not leak between requests', async () => {
    const fn = compileFunction('var count = 0;\nfunction handler(event) { count++; globalThis.x = (globalThis.x || 0) + 1; '
      + 'return { statusCode: 200, body: String(count) + String(globalThis.x) }; }', 'f.js');
    const first = await runFunction(fn, GET('/'));
    const second = await runFunction(fn, GET('/'));
    assert.equal(first.response.body.toString(), '11');
    assert.equal(second.response.body.toString(), '11');
  });

  it('runs strict: writing a frozen object throws (503); an undeclared variable is refused up front', async () => {
    const fn = compileFunction('function handler(event) { var o = Object.freeze({}); o.x = 1; return event.request; }', 'f.js');
    const result = await runFunction(fn, GET('/'));
    assert.equal(result.status, 503);
    assert.match(result.message, /Cannot add property x, object is not extensible/);
    assert.throws(() => compileFunction('function handler(event) { undeclared = 1; return event.request; }', 'f.js'),
      /f\.js:1:27: .*the global undeclared/);
  });

  it('stubs the cloudfront module import', async () => {
    const fn = compileFunction("import cf from 'cloudfront';\nfunction handler(event) { return { statusCode: 200, body: typeof cf.kvs }; }", 'f.js');
    assert.equal((await runFunction(fn, GET('/'))).response.body.toString(), 'function');
  });

  it('awaits an async handler', async () => {
    const fn = compileFunction("async function handler(event) { var r = await Promise.resolve(event.request); r.uri = '/async'; return r; }", 'f.js');
    assert.equal((await runFunction(fn, GET('/'))).request.uri, '/async');
  });

  it('collects console.log lines', async () => {
    const fn = compileFunction("function handler(event) { console.log('uri ' + event.request.uri); return event.request; }", 'f.js');
    assert.deepEqual((await runFunction(fn, GET('/x'))).logs, ['uri /x']);
  });

  it('stops a runaway handler (503)', async () => {
    const fn = compileFunction('function handler(event) { for (;;) {} }', 'f.js');
    const result = await runFunction(fn, GET('/'));
    assert.equal(result.status, 503);
    assert.match(result.message, /exceeded the compute budget: more than 10000 steps/);
  });
});

describe('return validation', () => {
  const cases = [
    ['a throw', "throw new Error('boom');", 503, /handler threw: boom/],
    ['undefined', 'return;', 503, /returned undefined/],
    ['a uri without a leading slash', "event.request.uri = 'index.html'; return event.request;", 503, /uri must be a string starting with '\/'/],
    ['a string statusCode', "return { statusCode: '404' };", 503, /statusCode must be an integer/],
    ['an uppercase response header', "return { statusCode: 404, headers: { 'Content-Type': { value: 'x' } } };", 503, /lowercase/],
    ['a header without {value}', "return { statusCode: 404, headers: { 'x-a': 'b' } };", 503, /lowercase-name: \{value\}/],
    ['a bad body shape', "return { statusCode: 200, body: { data: 1 } };", 503, /body must be/],
    ['a changed method', "event.request.method = 'POST'; return event.request;", 503, /method is read-only/],
    ['a changed host header', "event.request.headers.host = { value: 'evil.example' }; return event.request;", 502, /host header is read-only/],
  ];
  for (const [what, body, status, message] of cases) {
    it(`${what} -> ${status}`, async () => {
      const fn = compileFunction(`function handler(event) { ${body} }`, 'f.js');
      const result = await runFunction(fn, GET('/'));
      assert.equal(result.status, status);
      assert.match(result.message, message);
    });
  }

  it('accepts a response with text, base64 and string bodies', async () => {
    for (const body of ["'hi'", "{ encoding: 'text', data: 'hi' }", "{ encoding: 'base64', data: 'aGk=' }"]) {
      const fn = compileFunction(`function handler(event) { return { statusCode: 200, body: ${body} }; }`, 'f.js');
      assert.equal((await runFunction(fn, GET('/'))).response.body.toString(), 'hi', body);
    }
  });
});

describe('source validation', () => {
  const rejected = [
    ['function handler(e) { return e?.request; }', /1:30: .*optional chaining/],
    ['function handler(e) { return e.x ?? 1; }', /nullish coalescing/],
    ['function handler(e) { var { request } = e; return request; }', /destructuring/],
    ['function handler(e) { var [a] = e; return a; }', /destructuring/],
    ['function handler(e) { return [...e.a]; }', /spread/],
    ['function handler(e) { return { ...e }; }', /spread/],
    ['function handler(e, x = 1) { return e; }', /default parameter/],
    ['class A {}\nfunction handler(e) { return e; }', /1:1: .*classes/],
    ['function handler(e) { for (var k of []) {} return e; }', /for-of/],
    ['function* g() {}\nfunction handler(e) { return e; }', /generators/],
    ['function handler(e) { return { request }; }', /shorthand properties/],
    ['function handler(e) { return { m() {} }; }', /method shorthand/],
    ["function handler(e) { return { ['a']: 1 }; }", /computed property names/],
    ['function handler(e) { e.a ||= 1; return e; }', /logical assignment/],
    ['function handler(e) { try {} catch { } return e; }', /optional catch binding/],
    ['function handler(e) { return 10n; }', /BigInt/],
    ['export function handler(e) { return e; }', /exports/],
    ["import fs from 'fs';\nfunction handler(e) { return e; }", /imports other than/],
    ['var handler = function (e) { return e; };', /no top-level `function handler\(event\)`/],
    ['function handler(e) { with (e) {} }', /syntax error/],
    ['function handler(e) { return 010; }', /syntax error/],
    ['function handler(e) { return (async () => 1)(); }', /async closures/],
  ];
  for (const [source, message] of rejected) {
    it(`rejects ${source.replace(/\n/g, ' ')}`, () => {
      assert.throws(() => validateSource(source, 'f.js'), (err) => err instanceof FunctionSourceError && message.test(err.message) && err.message.startsWith('f.js'));
    });
  }

  it('accepts the listed ES6+ parts: let/const, arrows, template literals, rest parameters, async/await, **, 1_000', () => {
    assert.doesNotThrow(() => validateSource([
      "import cf from 'cloudfront';",
      'const A = 2 ** 3 + 1_000;',
      'let f = (x, ...rest) => `${x}:${rest.length}`;',
      'async function handler(event) { const r = await Promise.resolve(event.request); r.uri = `/${f(A)}`; return r; }',
    ].join('\n'), 'ok.js'));
  });

  it(`rejects a source over ${MAX_SOURCE_BYTES} bytes, comments included`, () => {
    const big = `function handler(e) { return e.request; }\n// ${'x'.repeat(MAX_SOURCE_BYTES)}\n`;
    assert.throws(() => validateSource(big, 'big.js'), /big\.js: source is \d+ bytes; CloudFront Functions allow at most 10240/);
  });
});
