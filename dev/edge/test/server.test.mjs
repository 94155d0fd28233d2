import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FunctionSourceError } from '../cloudfront-function.mjs';
import { createEdgeServer } from '../server.mjs';
import { close, listen, request } from './helpers.mjs';

const INDEX = '<!doctype html><title>spa</title><div id="root"></div>';
const APP_JS = 'console.log("app");';

let root;
let site;
let api;
let apiBase;
let edge;
let base;
let releaseStream;

function startApi() {
  return http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/api/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('event: delta\ndata: {"text":"first"}\n\n');
        // The rest only after the test saw the first event through the edge: proves no buffering.
        releaseStream = () => {
          res.write('event: delta\ndata: {"text":"second"}\n\n');
          res.end('event: done\ndata: {}\n\n');
        };
        return;
      }
      if (req.url.startsWith('/api/echo')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ statusCode: 404, message: `Cannot ${req.method} ${req.url}` }));
    });
  });
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-test-'));
  site = path.join(root, 'dist');
  fs.mkdirSync(path.join(site, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), INDEX);
  fs.writeFileSync(path.join(site, 'assets', 'app-Ab12Cd34.js'), APP_JS);
  fs.writeFileSync(path.join(site, 'assets', 'logo.png'), 'PNG');
  fs.writeFileSync(path.join(site, 'favicon.svg'), '<svg/>');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'outside the site');
  api = startApi();
  apiBase = await listen(api);
  edge = createEdgeServer({ dir: site, api: apiBase });
  base = await listen(edge);
});

after(async () => {
  await close(edge);
  await close(api);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('default behaviour from a directory, through the real spa-router.js', () => {
  for (const route of ['/', '/chat', '/chat/', '/chat?x=1', '/u/jane.doe', '/api', '/some/deep/link']) {
    it(`${route} -> index.html (200, no-cache)`, async () => {
      const res = await request(base, route);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(res.body, INDEX);
    });
  }

  it('serves a hashed asset with its type and immutable caching', async () => {
    const res = await request(base, '/assets/app-Ab12Cd34.js');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.body, APP_JS);
  });

  it('serves a file without a hash in its name under assets/ as deckhand publishes it: no-cache', async () => {
    const res = await request(base, '/assets/logo.png');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-cache');
  });

  it('answers a missing asset with a 404 that is not HTML', async () => {
    const res = await request(base, '/assets/missing.js');
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/xml');
    assert.match(res.body, /<Code>NoSuchKey<\/Code>/);
    assert.doesNotMatch(res.body, /<div id="root">/);
  });

  for (const route of ['/_deckhand/x', '/_deckhand', '/%5Fdeckhand/lock']) {
    it(`${route} -> 404 from the function`, async () => {
      const res = await request(base, route);
      assert.equal(res.status, 404);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.body, 'Not Found\n');
    });
  }

  it('never serves files outside the directory', async () => {
    for (const route of ['/..%2Fsecret.txt', '/assets/..%2F..%2Fsecret.txt']) {
      const res = await request(base, route);
      assert.equal(res.status, 404, route);
      assert.doesNotMatch(res.body, /outside the site/);
    }
  });

  it('answers HEAD without a body and If-None-Match with 304', async () => {
    const head = await request(base, '/chat', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const etag = head.headers.etag;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const again = await request(base, '/chat', { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('refuses methods the default behaviour does not allow', async () => {
    const res = await request(base, '/chat', { method: 'POST', body: 'x' });
    assert.equal(res.status, 403);
  });
});

describe('/api/* proxied to the API origin', () => {
  it('passes method, path, query, body and auth through; replaces only Host', async () => {
    const res = await request(base, '/api/echo?a=%20b&a=2&flag', {
      method: 'POST',
      headers: { authorization: 'Bearer t0k', 'content-type': 'application/json', host: 'viewer.example' },
      body: '{"x":1}',
    });
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/api/echo?a=%20b&a=2&flag');
    assert.equal(seen.body, '{"x":1}');
    assert.equal(seen.headers.authorization, 'Bearer t0k');
    assert.equal(seen.headers.host, new URL(apiBase).host);
  });

  it("relays the API's JSON 404, never index.html", async () => {
    const res = await request(base, '/api/nope');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(JSON.parse(res.body).statusCode, 404);
  });

  it('streams SSE without buffering', async () => {
    const url = new URL('/api/stream', base);
    const res = await new Promise((resolve, reject) => {
      http.get(url, resolve).on('error', reject);
    });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    let seen = '';
    for await (const chunk of res) {
      seen += chunk;
      if (seen.includes('"first"') && releaseStream) {
        releaseStream();
        releaseStream = undefined;
      }
    }
    assert.equal(seen, 'event: delta\ndata: {"text":"first"}\n\nevent: delta\ndata: {"text":"second"}\n\nevent: done\ndata: {}\n\n');
  });

  it('answers 502 when the API origin is down', async () => {
    const down = createEdgeServer({ dir: site, api: 'http://127.0.0.1:9' });
    const downBase = await listen(down);
    try {
      const res = await request(downBase, '/api/health');
      assert.equal(res.status, 502);
    } finally {
      await close(down);
    }
  });
});

describe('function failures surface like CloudFront', () => {
  async function withFunction(source, fn) {
    const file = path.join(root, `fn-${Math.random().toString(36).slice(2)}.js`);
    fs.writeFileSync(file, source);
    const server = createEdgeServer({ dir: site, functionPath: file });
    const url = await listen(server);
    try {
      await fn(url);
    } finally {
      await close(server);
    }
  }

  it('a throwing function -> 503', async () => {
    await withFunction("function handler(event) { throw new Error('boom'); }", async (url) => {
      const res = await request(url, '/chat');
      assert.equal(res.status, 503);
      assert.match(res.body, /boom/);
    });
  });

  it('a function editing the host header -> 502', async () => {
    await withFunction("function handler(event) { event.request.headers.host = { value: 'x' }; return event.request; }", async (url) => {
      assert.equal((await request(url, '/chat')).status, 502);
    });
  });

  it('a function generating a response with cookies and headers', async () => {
    await withFunction("function handler(event) { return { statusCode: 302, statusDescription: 'Found', "
      + "headers: { location: { value: '/chat' } }, cookies: { a: { value: '1', attributes: 'Path=/' } } }; }", async (url) => {
      const res = await request(url, '/old');
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/chat');
      assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/']);
    });
  });

  it('a function using unsupported syntax is refused at startup, naming file:line:column', () => {
    const file = path.join(root, 'bad.js');
    fs.writeFileSync(file, 'function handler(event) {\n  return event.request?.uri;\n}\n');
    assert.throws(() => createEdgeServer({ dir: site, functionPath: file }),
      (err) => err instanceof FunctionSourceError && err.message.startsWith(`${file}:2:10: unsupported in cloudfront-js-2.0: optional chaining (?.) (not listed in https://`));
  });
});
