// --bucket mode against the local AWS stack (moto on 127.0.0.1:4566): stored Content-Type and
// Cache-Control are honoured, a missing key is S3's 404, _deckhand/ is never served even when it exists.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEdgeServer } from '../server.mjs';
import { encodeS3Key, signRequest } from '../sigv4.mjs';
import { close, listen, request } from './helpers.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The local stack's environment: the caller's, or `dev/local-aws/up`'s (which starts it if needed). */
function localAws() {
  if (process.env.AWS_ENDPOINT_URL) return process.env;
  const out = execFileSync(path.join(REPO, 'dev/local-aws/up'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env = { ...process.env };
  for (const m of out.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}

const env = localAws();
const creds = {
  region: env.AWS_REGION ?? 'us-east-1',
  accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'test',
  secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'test',
};
const BUCKET = `edge-test-${crypto.randomBytes(4).toString('hex')}`;

function s3(method, key, body = '', headers = {}) {
  const url = new URL(`${env.AWS_ENDPOINT_URL.replace(/\/$/, '')}/${BUCKET}${key === null ? '' : `/${encodeS3Key(key)}`}`);
  const payloadHash = crypto.createHash('sha256').update(body).digest('hex');
  const signed = signRequest({ method, url: url.href, headers, payloadHash, ...creds });
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...signed, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve(res.statusCode) : reject(new Error(`${method} ${url} -> ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const OBJECTS = {
  'index.html': ['<!doctype html><div id="root"></div>', 'text/html; charset=utf-8', 'no-cache'],
  'assets/app-Zz9.js': ['console.log(1)', 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
  'photo one.png': ['png-bytes', 'image/png', 'public, max-age=60'],
  '_deckhand/lock': ['{"holder":"ci"}', 'application/json', 'no-cache'],
};

let edge;
let base;

before(async () => {
  await s3('PUT', null);
  for (const [key, [body, type, cache]] of Object.entries(OBJECTS)) {
    await s3('PUT', key, body, { 'content-type': type, 'cache-control': cache });
  }
  edge = createEdgeServer({ bucket: BUCKET, endpoint: env.AWS_ENDPOINT_URL, ...creds });
  base = await listen(edge);
});

after(async () => {
  if (edge) await close(edge);
  for (const key of Object.keys(OBJECTS)) await s3('DELETE', key).catch(() => {});
  await s3('DELETE', null).catch(() => {});
});

describe('default behaviour from an S3 bucket on the local stack', () => {
  for (const route of ['/', '/chat', '/chat/', '/u/jane.doe']) {
    it(`${route} -> index.html with its stored headers`, async () => {
      const res = await request(base, route);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(res.body, OBJECTS['index.html'][0]);
    });
  }

  it('serves an asset with its stored Content-Type and Cache-Control', async () => {
    const res = await request(base, '/assets/app-Zz9.js');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.body, 'console.log(1)');
  });

  it('decodes the key like S3 (percent-encoded space)', async () => {
    const res = await request(base, '/photo%20one.png');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/png');
  });

  it('a missing key is a 404, never index.html', async () => {
    const res = await request(base, '/assets/missing.js');
    assert.equal(res.status, 404);
    assert.match(res.body, /NoSuchKey/);
    assert.doesNotMatch(res.body, /id="root"/);
  });

  it('_deckhand/ is never served, although the key exists in the bucket', async () => {
    for (const route of ['/_deckhand/lock', '/%5Fdeckhand/lock']) {
      const res = await request(base, route);
      assert.equal(res.status, 404, route);
      assert.doesNotMatch(res.body, /holder/);
    }
  });
});
