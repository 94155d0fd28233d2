#!/usr/bin/env node
// deckhand's local edge: a small stand-in for the CloudFront distribution that infra/ creates.
//
//   /api/*          -> proxied to --api untouched (method, path, query, body, streaming response: SSE works);
//                      no function runs there, as on the real /api/* behaviour.
//   everything else -> the default (S3) behaviour: the REAL infra/functions/spa-router.js runs on the
//                      viewer-request event in the CloudFront Functions emulator, then the (possibly
//                      rewritten) key is read from --dir or from an S3 bucket on the local AWS stack.
//                      A missing key is a 404 (OAC with s3:ListBucket), never index.html.
//
// Usage: node dev/edge/server.mjs --port 8080 (--dir frontend/dist | --bucket NAME) [--api http://127.0.0.1:3000]
//        [--function infra/functions/spa-router.js] [--host 127.0.0.1] [--endpoint $AWS_ENDPOINT_URL] [--quiet]
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildViewerRequestEvent, loadFunction, runFunction } from './cloudfront-function.mjs';
import { encodeS3Key, encodeS3Segment, signRequest } from './sigv4.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_FUNCTION = path.resolve(HERE, '../../infra/functions/spa-router.js');

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json',
  '.map': 'application/json', '.webmanifest': 'application/manifest+json', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.avif': 'image/avif', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.xml': 'application/xml',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.otf': 'font/otf', '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
};

// In --dir mode there is no stored metadata; use the Cache-Control deckhand's default config would store:
// immutable for a name that carries a content hash (frontend.hashed-names' default, src/config/mod.rs:
// Vite's assets/NAME-HASH.EXT, 8 url-safe base64 characters, at least one a digit or an upper-case letter),
// no-cache for everything else (public/assets/logo.png included).
const HASHED_NAME = /^assets\/(?:[^/]+\/)*[^/]+-([A-Za-z0-9_-]{8})(?:\.[A-Za-z0-9]+)+$/;
function dirCacheControl(key) {
  const m = HASHED_NAME.exec(key);
  if (m && /[0-9A-Z]/.test(m[1]) && !key.endsWith('.html')) return 'public, max-age=31536000, immutable';
  return 'no-cache';
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers',
  'transfer-encoding', 'upgrade', 'proxy-connection',
]);

// Headers of an S3 GetObject answer that CloudFront passes on to the viewer.
const ORIGIN_HEADERS = [
  'content-type', 'content-length', 'cache-control', 'etag', 'last-modified', 'content-encoding',
  'content-language', 'content-disposition', 'content-range', 'accept-ranges', 'expires',
];

function s3Error(status, code, message, key) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>`
    + `<Key>${key.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</Key></Error>`;
  return { status, headers: { 'content-type': 'application/xml' }, body: Buffer.from(body) };
}

/** Reads one key from a directory the way S3 would answer GetObject (decoded key, no directory index). */
export function readFromDir(dir, uri, requestHeaders) {
  let key;
  try {
    key = decodeURIComponent(uri).replace(/^\//, '');
  } catch {
    return s3Error(400, 'InvalidURI', 'Could not parse the specified URI.', uri);
  }
  const root = path.resolve(dir);
  const file = path.resolve(root, key);
  if (key === '' || !file.startsWith(root + path.sep)) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
  }
  if (!stat.isFile()) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
  const body = fs.readFileSync(file);
  const etag = `"${crypto.createHash('md5').update(body).digest('hex')}"`;
  const headers = {
    'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'accept-ranges': 'bytes',
  };
  const cacheControl = dirCacheControl(key);
  if (cacheControl) headers['cache-control'] = cacheControl;
  if (requestHeaders['if-none-match'] === etag) return { status: 304, headers, body: Buffer.alloc(0) };
  headers['content-length'] = String(body.length);
  return { status: 200, headers, body };
}

function requestModule(url) {
  return url.protocol === 'https:' ? https : http;
}

/** GETs one key from an S3 bucket (signed, path-style REST) and pipes S3's answer through as is. */
function proxyToS3(s3, method, uri, requestHeaders, res, done) {
  let key;
  try {
    key = decodeURIComponent(uri).replace(/^\//, '');
  } catch {
    const answer = s3Error(400, 'InvalidURI', 'Could not parse the specified URI.', uri);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
    done(400);
    return;
  }
  const target = new URL(`${s3.endpoint.replace(/\/$/, '')}/${encodeS3Segment(s3.bucket)}/${encodeS3Key(key)}`);
  const conditional = {};
  for (const name of ['if-none-match', 'if-modified-since', 'range']) {
    if (requestHeaders[name]) conditional[name] = requestHeaders[name];
  }
  const headers = signRequest({ method, url: target.href, headers: conditional, ...s3.credentials });
  const upstream = requestModule(target).request(target, { method, headers }, (answer) => {
    const out = {};
    for (const name of ORIGIN_HEADERS) if (answer.headers[name] !== undefined) out[name] = answer.headers[name];
    res.writeHead(answer.statusCode ?? 502, out);
    answer.pipe(res);
    answer.on('end', () => done(answer.statusCode));
  });
  upstream.on('error', (err) => {
    sendText(res, 502, `502 Bad Gateway: S3 origin ${target.origin} unreachable (${err.code ?? err.message})\n`);
    done(502);
  });
  upstream.end();
}

function sendText(res, status, text) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/** Proxies /api/* untouched except Host (Managed-AllViewerExceptHostHeader), streaming both ways. */
function proxyToApi(api, req, res, done) {
  if (!api) {
    sendText(res, 502, '502 Bad Gateway: no --api origin configured for /api/*\n');
    done(502);
    return;
  }
  const base = new URL(api);
  const target = new URL(req.url, base);
  const headers = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'host') continue;
    const value = req.rawHeaders[i + 1];
    headers[name] = headers[name] === undefined ? value : [].concat(headers[name], value);
  }
  headers.host = base.host;
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1';
  headers['x-forwarded-proto'] = 'https';
  headers.via = '1.1 deckhand-dev-edge (CloudFront emulator)';
  const upstream = requestModule(target).request(target, { method: req.method, headers }, (apiRes) => {
    const out = {};
    for (const [name, value] of Object.entries(apiRes.headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
    res.writeHead(apiRes.statusCode ?? 502, out);
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    apiRes.pipe(res);
    apiRes.on('end', () => done(apiRes.statusCode));
    apiRes.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    sendText(res, 502, `502 Bad Gateway: API origin ${base.origin} unreachable (${err.code ?? err.message})\n`);
    done(502);
  });
  // The viewer went away: stop the origin request too (an SSE stream would otherwise run on).
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

function writeFunctionResponse(res, response) {
  const headers = {};
  for (const [name, entry] of Object.entries(response.headers)) {
    headers[name] = entry.multiValue ? entry.multiValue.map((m) => m.value) : entry.value;
  }
  const cookies = Object.entries(response.cookies).flatMap(([name, entry]) =>
    (entry.multiValue ?? [entry]).map((c) => `${name}=${c.value}${c.attributes ? `; ${c.attributes}` : ''}`));
  if (cookies.length) headers['set-cookie'] = cookies;
  headers['content-length'] = String(response.body.length);
  if (response.statusDescription) res.writeHead(response.statusCode, response.statusDescription, headers);
  else res.writeHead(response.statusCode, headers);
  res.end(response.body);
}

/**
 * Creates the edge server (not listening yet).
 * options: { dir } | { bucket, endpoint, region?, accessKeyId?, secretAccessKey? }, api?, functionPath?,
 * log? (a function taking one line). Credentials default to the AWS_* environment (the local stack's test/test).
 */
export function createEdgeServer(options) {
  const fn = loadFunction(options.functionPath ?? DEFAULT_FUNCTION);
  const log = options.log ?? (() => {});
  if (!options.dir && !options.bucket) throw new Error('createEdgeServer: one of dir or bucket is required');
  const s3 = options.bucket ? {
    bucket: options.bucket,
    endpoint: options.endpoint ?? 'https://s3.amazonaws.com',
    credentials: {
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      accessKeyId: options.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID ?? 'test',
      secretAccessKey: options.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
      sessionToken: process.env.AWS_SESSION_TOKEN,
    },
  } : undefined;

  return http.createServer((req, res) => {
    const started = Date.now();
    const url = req.url ?? '/';
    const done = (status, note = '') => log(`${req.method} ${url} -> ${status}${note} (${Date.now() - started} ms)`);

    // Path patterns are matched case-sensitively on the path: /api/* only, bare /api is the SPA's.
    if (url.startsWith('/api/')) {
      proxyToApi(options.api, req, res, (status) => done(status, ' [api]'));
      return;
    }

    const event = buildViewerRequestEvent({
      method: req.method,
      url,
      rawHeaders: req.rawHeaders,
      ip: req.socket.remoteAddress,
      distributionDomainName: req.headers.host,
    });
    runFunction(fn, event).then((result) => {
      for (const line of result.logs) log(`  function log: ${line}`);
      if (result.status) {
        log(`  function error: ${result.message}`);
        sendText(res, result.status, `${result.status} ERROR: the CloudFront function failed (${result.message})\n`);
        done(result.status, ' [function error]');
        return;
      }
      if (result.response) {
        writeFunctionResponse(res, result.response);
        done(result.response.statusCode, ' [function response]');
        return;
      }
      const { uri } = result.request;
      const note = uri !== event.request.uri ? ` [rewrote to ${uri}]` : '';
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        // The default behaviour allows GET and HEAD only, like the distribution in infra/.
        sendText(res, 403, '403 ERROR: this distribution is not configured to allow the HTTP request method\n');
        done(403, note);
        return;
      }
      if (options.bucket) {
        proxyToS3(s3, req.method, uri, req.headers, res, (status) => done(status, note));
        return;
      }
      const answer = readFromDir(options.dir, uri, req.headers);
      res.writeHead(answer.status, answer.headers);
      res.end(req.method === 'HEAD' ? undefined : answer.body);
      done(answer.status, note);
    }, (err) => {
      sendText(res, 500, `500: edge failure: ${err.message}\n`);
      done(500);
    });
  });
}

function usage(message) {
  process.stderr.write(`error: ${message}\n`
    + 'usage: node dev/edge/server.mjs --port N (--dir DIR | --bucket NAME) [--api URL] [--function FILE] '
    + '[--host 127.0.0.1] [--endpoint URL] [--quiet]\n');
  process.exit(2);
}

async function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, dir: { type: 'string' },
        bucket: { type: 'string' }, endpoint: { type: 'string' }, api: { type: 'string' },
        function: { type: 'string' }, quiet: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    usage(err.message);
  }
  if (values.port === undefined || !/^\d+$/.test(values.port) || Number(values.port) > 65535) {
    usage(`--port must be a port number (0 picks a free one), got ${values.port === undefined ? 'nothing' : `'${values.port}'`}`);
  }
  if (Boolean(values.dir) === Boolean(values.bucket)) usage('give exactly one of --dir DIR or --bucket NAME');
  if (values.dir && !fs.statSync(values.dir, { throwIfNoEntry: false })?.isDirectory()) {
    usage(`--dir ${values.dir}: no such directory (build the frontend first: npm run build in frontend/)`);
  }
  const endpoint = values.endpoint ?? process.env.AWS_ENDPOINT_URL;
  if (values.bucket && !endpoint) usage('--bucket needs --endpoint or AWS_ENDPOINT_URL (the local AWS stack)');
  if (values.api) {
    try {
      new URL(values.api);
    } catch {
      usage(`--api ${values.api}: not a URL`);
    }
  }
  let server;
  try {
    server = createEdgeServer({
      dir: values.dir, bucket: values.bucket, endpoint, api: values.api, functionPath: values.function,
      log: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
  } catch (err) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  }
  server.on('error', (err) => {
    process.stderr.write(`error: cannot listen on ${values.host}:${values.port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(Number(values.port), values.host, () => {
    const { port } = server.address();
    const origin = values.dir ? `dir ${path.resolve(values.dir)}` : `s3://${values.bucket} at ${endpoint}`;
    process.stdout.write(`edge listening on http://${values.host}:${port} (default behaviour: ${origin}; /api/*: ${values.api ?? 'none'})\n`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections();
      process.exit(0);
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.argv.slice(2));
}
