#!/usr/bin/env node
// A fake of the Anthropic Messages API (POST /v1/messages) for tests and local demos.
//
//   node backend/test/fake-anthropic.mjs --port 0 [--api-key KEY] [--delay-ms 5]
//
// Prints `fake-anthropic listening on http://127.0.0.1:<port>` once ready. Importable too:
//   import { startFakeAnthropic } from './fake-anthropic.mjs';
//   const fake = await startFakeAnthropic({ port: 0 }); ... await fake.close();
//
// Behaviour (deterministic):
// - Requires the API key (default "test-claude-key") as `x-api-key: <key>` or as
//   `Authorization: Bearer <key>` (current @anthropic-ai/sdk versions send the latter); otherwise
//   401 authentication_error, as the real API answers.
// - Replies "Hello from the fake Claude. You said: <last user message>" (see replyFor()).
//   With "stream": true it streams the reply as the real API does (message_start,
//   content_block_start, ping, content_block_delta/text_delta per word, content_block_stop,
//   message_delta, message_stop); otherwise it returns one Message JSON.
// - Markers in the last user message:
//     FAIL_MIDSTREAM  streams two deltas, then an `error` event (overloaded_error) and ends
//     FAIL_UPFRONT    answers HTTP 500 api_error before any stream starts
//     SLOW_STREAM     waits 300 ms between events (for shutdown/draining tests)
// - GET /_fake/requests lists the requests received ({model, max_tokens, system, messages, stream,
//   auth: "x-api-key"|"bearer"|null, apiKeyOk, headers without credentials}); DELETE clears it.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export const DEFAULT_API_KEY = 'test-claude-key';
export const REPLY_PREFIX = 'Hello from the fake Claude. You said: ';

/** The full reply text for a conversation: fixed prefix + the last user message. */
export function replyFor(messages) {
  const lastUser = [...messages].reverse().find((m) => m && m.role === 'user');
  const content = lastUser ? lastUser.content : '';
  const text = typeof content === 'string' ? content : content.map((b) => (b && b.type === 'text' ? b.text : '')).join('');
  return REPLY_PREFIX + text;
}

/** Splits text into word-sized chunks (whitespace kept) so the stream has several deltas. */
export function chunksOf(text) {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'request-id': `req_${randomUUID()}` });
  res.end(data);
}

function apiError(res, status, type, message) {
  sendJson(res, status, { type: 'error', error: { type, message } });
}

function sse(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeAnthropic({ port = 0, host = '127.0.0.1', apiKey = DEFAULT_API_KEY, delayMs = 5 } = {}) {
  const requests = [];
  const sockets = new Set();

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname === '/_fake/requests') {
      if (req.method === 'DELETE') requests.length = 0;
      return sendJson(res, 200, requests);
    }
    if (url.pathname !== '/v1/messages' || req.method !== 'POST') {
      return apiError(res, 404, 'not_found_error', `No route for ${req.method} ${url.pathname}`);
    }
    const raw = await readBody(req);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const presented = req.headers['x-api-key'] ?? bearer;
    const auth = req.headers['x-api-key'] !== undefined ? 'x-api-key' : bearer !== undefined ? 'bearer' : null;
    const apiKeyOk = presented === apiKey;
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      return apiError(res, 400, 'invalid_request_error', 'body is not valid JSON');
    }
    const headers = { ...req.headers };
    delete headers['x-api-key'];
    delete headers.authorization;
    requests.push({ model: body.model, max_tokens: body.max_tokens, system: body.system, messages: body.messages, stream: body.stream === true, auth, apiKeyOk, headers });
    if (!apiKeyOk) return apiError(res, 401, 'authentication_error', auth ? 'invalid x-api-key' : 'x-api-key header is required');
    if (typeof body.model !== 'string' || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number') {
      return apiError(res, 400, 'invalid_request_error', 'model, messages and max_tokens are required');
    }

    const reply = replyFor(body.messages);
    const lastUser = reply.slice(REPLY_PREFIX.length);
    if (lastUser.includes('FAIL_UPFRONT')) return apiError(res, 500, 'api_error', 'Internal server error');

    const id = `msg_fake_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const inputTokens = body.messages.reduce((n, m) => n + String(typeof m.content === 'string' ? m.content : '').split(/\s+/).length, 0);
    const chunks = chunksOf(reply);
    const outputTokens = chunks.length;

    if (body.stream !== true) {
      return sendJson(res, 200, {
        id, type: 'message', role: 'assistant', model: body.model,
        content: [{ type: 'text', text: reply }],
        stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: outputTokens },
      });
    }

    const pause = lastUser.includes('SLOW_STREAM') ? 300 : delayMs;
    let closed = false;
    res.on('close', () => { closed = true; });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${randomUUID()}` });
    sse(res, 'message_start', {
      type: 'message_start',
      message: { id, type: 'message', role: 'assistant', content: [], model: body.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    });
    sse(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    sse(res, 'ping', { type: 'ping' });
    const failMidstream = lastUser.includes('FAIL_MIDSTREAM');
    for (const [i, text] of chunks.entries()) {
      await sleep(pause);
      if (closed) return;
      if (failMidstream && i === 2) {
        sse(res, 'error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
        return res.end();
      }
      sse(res, 'content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
    }
    await sleep(pause);
    if (closed) return;
    sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
    sse(res, 'message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } });
    sse(res, 'message_stop', { type: 'message_stop' });
    res.end();
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  return {
    port: actualPort,
    url: `http://${host}:${actualPort}`,
    apiKey,
    requests,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--port') opts.port = Number(value);
    else if (flag === '--host') opts.host = value;
    else if (flag === '--api-key') opts.apiKey = value;
    else if (flag === '--delay-ms') opts.delayMs = Number(value);
    else throw new Error(`unknown flag ${flag} (flags: --port N --host H --api-key KEY --delay-ms N)`);
    if (value === undefined || (['--port', '--delay-ms'].includes(flag) && !Number.isInteger(Number(value)))) {
      throw new Error(`${flag} needs a value`);
    }
    i += 1;
  }
  if (opts.apiKey === undefined && process.env.FAKE_ANTHROPIC_API_KEY) opts.apiKey = process.env.FAKE_ANTHROPIC_API_KEY;
  return opts;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fake-anthropic: ${err.message}\n`);
    process.exit(2);
  }
  const fake = await startFakeAnthropic(opts);
  process.stdout.write(`fake-anthropic listening on ${fake.url}\n`);
  const stop = () => fake.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
