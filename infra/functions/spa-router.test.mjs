// Unit tests for spa-router.js, run in dev/edge's CloudFront Functions emulator (strict, ES5.1 + listed
// ES6+ syntax, 10 KB limit, fresh vm context, real viewer-request event shape).
// Run: node --test infra/functions/  (needs `npm ci` in dev/edge for the acorn parser)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  MAX_SOURCE_BYTES,
  MEMORY_BUDGET_BYTES,
  buildViewerRequestEvent,
  compileFunction,
  runFunction,
} from '../../dev/edge/cloudfront-function.mjs';

const FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'spa-router.js');
const SOURCE = fs.readFileSync(FILE, 'utf8');
const fn = compileFunction(SOURCE, FILE);

function eventFor(url, rawHeaders = ['Host', 'd111111abcdef8.cloudfront.net']) {
  return buildViewerRequestEvent({ method: 'GET', url, rawHeaders });
}

async function route(url) {
  const result = await runFunction(fn, eventFor(url));
  assert.equal(result.status, undefined, `${url}: the function failed: ${result.message}`);
  if (result.response) return { status: result.response.statusCode, body: result.response.body.toString() };
  return { uri: result.request.uri };
}

const INDEX = { uri: '/index.html' };
const NOT_FOUND = { status: 404, body: 'Not Found\n' };
const same = (url) => ({ uri: url.split('?')[0] });

// [request target, expected]
const TABLE = [
  // SPA routes -> /index.html (rewrite; the browser keeps its URL)
  ['/', INDEX],
  ['/chat', INDEX],
  ['/chat/', INDEX],
  ['/chat/settings/profile', INDEX],
  ['/chat?session=42', INDEX],
  ['/api', INDEX], // bare /api is not /api/*: it belongs to the SPA behaviour
  // dotted routes: only a listed extension makes a file
  ['/u/jane.doe', INDEX],
  ['/v1.2/notes', INDEX],
  ['/release/2026.11', INDEX],
  ['/.well-known', INDEX],
  ['/files/name.', INDEX],
  ['/_deckhandish', INDEX],
  // assets and files -> untouched (a missing one is S3's 404, never index.html)
  ['/index.html', same('/index.html')],
  ['/assets/index-Bf8s2LIj.js', same('/assets/index-Bf8s2LIj.js')],
  ['/assets/index-Bf8s2LIj.css', same('/assets/index-Bf8s2LIj.css')],
  ['/assets/missing.js', same('/assets/missing.js')],
  ['/assets/index-Bf8s2LIj.js.map', same('/assets/index-Bf8s2LIj.js.map')],
  ['/favicon.svg', same('/favicon.svg')],
  ['/favicon.ico', same('/favicon.ico')],
  ['/robots.txt', same('/robots.txt')],
  ['/manifest.webmanifest', same('/manifest.webmanifest')],
  ['/fonts/inter.woff2', same('/fonts/inter.woff2')],
  ['/img/LOGO.PNG', same('/img/LOGO.PNG')],
  ['/img/photo%20one.jpg', same('/img/photo%20one.jpg')],
  ['/chat.html', same('/chat.html')], // no per-page HTML here: an honest 404 from S3
  ['/assets/_deckhand/x.js', same('/assets/_deckhand/x.js')],
  // deckhand's private prefix -> 404 from the function, however it is spelled
  ['/_deckhand', NOT_FOUND],
  ['/_deckhand/', NOT_FOUND],
  ['/_deckhand/x', NOT_FOUND],
  ['/_deckhand/lock', NOT_FOUND],
  ['/_deckhand/releases/20261125T120000Z-abc1234.json', NOT_FOUND],
  ['/_deckhand/objects/0f1e2d', NOT_FOUND],
  ['/_deckhand/releases/x.json?download=1', NOT_FOUND],
  ['/%5Fdeckhand/lock', NOT_FOUND],
  ['/%5fdeckhand%2Flock', NOT_FOUND],
  ['/_deckhand%2Freleases%2Fx.json', NOT_FOUND],
  ['//_deckhand/lock', NOT_FOUND],
  ['/./_deckhand/lock', NOT_FOUND],
  ['/%5Fdeckhand/%E0%A4%A', NOT_FOUND], // malformed escape still decodes '_'
];

describe('spa-router routing table', () => {
  for (const [url, expected] of TABLE) {
    it(`${url} -> ${expected.uri ?? expected.status}`, async () => {
      assert.deepEqual(await route(url), expected);
    });
  }
});

describe('spa-router request handling', () => {
  it('keeps the query string, headers and cookies untouched, percent-encoding included', async () => {
    const raw = ['Host', 'example.com', 'Accept', 'text/html', 'Cookie', 'a=1; b=%20x', 'Cookie', 'a=2'];
    const event = eventFor('/chat?next=%2Fhome&tag=a&tag=b&flag', raw);
    const before = structuredClone(event.request);
    const result = await runFunction(fn, event);
    assert.equal(result.request.uri, '/index.html');
    assert.deepEqual(result.request.querystring, before.querystring);
    assert.deepEqual(result.request.querystring.next, { value: '%2Fhome' });
    assert.deepEqual(result.request.querystring.tag, { value: 'a', multiValue: [{ value: 'a' }, { value: 'b' }] });
    assert.deepEqual(result.request.headers, before.headers);
    assert.deepEqual(result.request.cookies, before.cookies);
  });

  it('answers the private prefix with an uncacheable plain-text 404, not HTML', async () => {
    const { response } = await runFunction(fn, eventFor('/_deckhand/lock'));
    assert.equal(response.statusCode, 404);
    assert.equal(response.headers['content-type'].value, 'text/plain; charset=utf-8');
    assert.equal(response.headers['cache-control'].value, 'no-store');
  });

  it('is idempotent: a rewritten request routes to itself', async () => {
    assert.deepEqual(await route('/index.html'), INDEX);
  });

  it('works for every method CloudFront sends to the default behaviour', async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      const event = buildViewerRequestEvent({ method, url: '/chat', rawHeaders: [] });
      const result = await runFunction(fn, event);
      assert.equal(result.request.uri, '/index.html', method);
      assert.equal(result.request.method, method);
    }
  });
});

describe('spa-router source obeys the runtime limits', () => {
  it(`is under ${MAX_SOURCE_BYTES} bytes, comments included`, () => {
    assert.ok(Buffer.byteLength(SOURCE) < MAX_SOURCE_BYTES, `${Buffer.byteLength(SOURCE)} bytes`);
  });

  it('exports nothing and declares a global handler (CloudFront calls it by name)', () => {
    assert.doesNotMatch(SOURCE, /\bexport\b|module\.exports/);
    assert.match(SOURCE, /^function handler\(event\) \{$/m);
  });

  it('passes the emulator syntax check (compileFunction would throw otherwise)', () => {
    assert.doesNotThrow(() => compileFunction(SOURCE, FILE));
  });

  it('uses only what cloudfront-js-2.0 lists (statements, globals, methods) and stays far inside the budgets', async () => {
    // Steps are counted (exact); memory is the V8 heap's growth during the run, which a page the
    // heap happens to take or a lazy allocation of V8's own inflates now and then (measured over
    // 1,200 runs of this function: median 12 KB, max 265 KB): each run stays under half the budget,
    // and the typical run under a sixteenth of it.
    const memory = [];
    for (const [url] of TABLE) {
      const { usage, status, message } = await runFunction(fn, eventFor(url));
      assert.equal(status, undefined, `${url}: ${message}`);
      assert.ok(usage.steps <= 10 && usage.computeUtilization <= 1, `${url}: ${JSON.stringify(usage)}`);
      assert.ok(usage.memoryBytes < MEMORY_BUDGET_BYTES / 2, `${url}: ${JSON.stringify(usage)}`);
      memory.push(usage.memoryBytes);
    }
    memory.sort((a, b) => a - b);
    const median = memory[memory.length >> 1];
    assert.ok(median < MEMORY_BUDGET_BYTES / 16, `median ${median} bytes of ${memory.length} runs`);
  });
});
