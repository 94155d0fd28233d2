import type { INestApplication } from '@nestjs/common';
import type { IncomingMessage, Server } from 'node:http';
import request from 'supertest';
import { createApp } from '../src/app.factory';
import {
  ACCESS_TOKEN,
  FakeAnthropic,
  memoryLogger,
  openChat,
  parseSse,
  REPLY_PREFIX,
  replyText,
  startFake,
  testConfig,
} from './support';

/** supertest/superagent buffer text/event-stream as a plain string with this parser. */
function text(res: unknown, cb: (err: Error | null, body: unknown) => void): void {
  const stream = res as IncomingMessage;
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (body += chunk));
  stream.on('end', () => cb(null, body));
}

const user = (content: string) => ({ role: 'user', content });

describe('backend over HTTP (against the fake Anthropic API)', () => {
  let fake: FakeAnthropic;
  let app: INestApplication;
  let server: Server;
  let logs: ReturnType<typeof memoryLogger>;

  beforeAll(async () => {
    fake = await startFake();
    logs = memoryLogger();
    app = await createApp(testConfig(fake.url, {
        ANTHROPIC_MODEL: 'claude-e2e-model',
        ANTHROPIC_MAX_TOKENS: '321',
        CHAT_SYSTEM_PROMPT: 'You are the deckhand demo.',
        RATE_LIMIT_MAX: '1000',
      }), logs.logger);
    await app.listen(0, '127.0.0.1');
    server = app.getHttpServer() as Server;
  });

  afterAll(async () => {
    await app?.close();
    await fake?.close();
  });

  const baseUrl = () => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const chat = () => request(server).post('/api/chat').set('Authorization', `Bearer ${ACCESS_TOKEN}`);

  describe('GET /api/health', () => {
    it('answers ok with the version, without auth', async () => {
      const res = await request(server).get('/api/health').expect(200);
      expect(res.body).toEqual({ status: 'ok', version: '9.9.9-test' });
    });

    it('sets helmet headers and a request id, honouring an incoming one', async () => {
      const res = await request(server).get('/api/health').set('x-request-id', 'trace-abc-123').expect(200);
      expect(res.headers['x-request-id']).toBe('trace-abc-123');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-powered-by']).toBeUndefined();
      const line = logs.entries().find((e) => e.msg === 'request' && e.requestId === 'trace-abc-123');
      expect(line).toMatchObject({ method: 'GET', path: '/api/health', status: 200 });
      const fresh = await request(server).get('/api/health').set('x-request-id', 'not a safe id');
      expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('POST /api/chat', () => {
    it('streams the reply as delta events ending with done', async () => {
      const res = await chat()
        .send({ messages: [user('What is deckhand?')] })
        .buffer(true)
        .parse(text)
        .expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(res.headers['cache-control']).toContain('no-cache');
      const events = parseSse(res.body as string);
      expect(events.filter((e) => e.event === 'delta').length).toBeGreaterThan(3);
      expect(replyText(events)).toBe(`${REPLY_PREFIX}What is deckhand?`);
      const last = events[events.length - 1];
      expect(last.event).toBe('done');
      expect(last.data).toMatchObject({ stopReason: 'end_turn', usage: { outputTokens: 10 } });
      expect(events.filter((e) => e.event === 'done')).toHaveLength(1);
    });

    it('sends the whole conversation, the configured model and the API key upstream', async () => {
      await fetch(`${fake.url}/_fake/requests`, { method: 'DELETE' });
      const messages = [user('first'), { role: 'assistant', content: 'reply' }, user('second')];
      const res = await chat().send({ messages }).buffer(true).parse(text).expect(200);
      expect(replyText(parseSse(res.body as string))).toBe(`${REPLY_PREFIX}second`);
      const [upstream] = await fake.requests();
      expect(upstream).toMatchObject({
        model: 'claude-e2e-model',
        stream: true,
        apiKeyOk: true,
        messages,
        max_tokens: 321,
        system: 'You are the deckhand demo.',
      });
    });

    it('ends the stream with an error event when the upstream fails mid-stream', async () => {
      const res = await chat().send({ messages: [user('please FAIL_MIDSTREAM now')] }).buffer(true).parse(text).expect(200);
      const events = parseSse(res.body as string);
      expect(replyText(events)).toBe('Hello from ');
      const last = events[events.length - 1];
      expect(last.event).toBe('error');
      expect(last.data).toMatchObject({ type: 'overloaded' });
      expect((last.data as { message: string }).message).toMatch(/overloaded/i);
      expect(events.some((e) => e.event === 'done')).toBe(false);
      expect(logs.entries().some((e) => e.msg === 'upstream stream failed' && e.type === 'overloaded')).toBe(true);
    });

    it('answers 502 JSON when the upstream fails before streaming', async () => {
      const res = await chat().send({ messages: [user('FAIL_UPFRONT')] }).expect(502);
      expect(res.body).toMatchObject({ statusCode: 502, type: 'upstream_error' });
    });

    it('aborts the upstream request when the client goes away', async () => {
      const stream = await openChat(baseUrl(), [user('SLOW_STREAM bye')]);
      expect(stream.status).toBe(200);
      await stream.waitFor((body) => body.includes('event: delta'));
      stream.destroy();
      const deadline = Date.now() + 3000;
      const aborted = () => logs.entries().some((e) => e.msg === 'client disconnected mid-stream; upstream request aborted');
      while (!aborted() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(aborted()).toBe(true);
      // the aborted stream was not logged as a completed reply
      expect(logs.entries().find((e) => e.msg === 'request' && e.aborted === true)).toMatchObject({ path: '/api/chat' });
    });
  });

  describe('auth', () => {
    it('rejects a missing token with 401 JSON', async () => {
      const res = await request(server).post('/api/chat').send({ messages: [user('hi')] }).expect(401);
      expect(res.body).toMatchObject({ statusCode: 401, message: expect.stringMatching(/Missing bearer token/) as unknown });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    });

    it('rejects a wrong token, a token prefix and another scheme with 401 JSON', async () => {
      for (const header of [`Bearer ${ACCESS_TOKEN}x`, `Bearer ${ACCESS_TOKEN.slice(0, -1)}`, `Basic ${ACCESS_TOKEN}`]) {
        const res = await request(server).post('/api/chat').set('Authorization', header).send({ messages: [user('hi')] });
        expect(res.status).toBe(401);
        expect((res.body as { statusCode: number }).statusCode).toBe(401);
      }
    });
  });

  describe('validation', () => {
    const cases: Array<[string, unknown, string]> = [
      ['no messages', {}, 'messages'],
      ['messages not an array', { messages: 'hi' }, 'messages'],
      ['empty messages', { messages: [] }, 'messages'],
      ['more than 50 messages', { messages: Array.from({ length: 51 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x' })) }, 'messages'],
      ['unknown role', { messages: [{ role: 'system', content: 'x' }] }, 'messages[0].role'],
      ['starts with assistant', { messages: [{ role: 'assistant', content: 'x' }, user('y')] }, 'messages[0].role'],
      ['roles do not alternate', { messages: [user('a'), user('b')] }, 'messages[1].role'],
      ['ends with assistant', { messages: [user('a'), { role: 'assistant', content: 'b' }] }, 'messages[1].role'],
      ['content not a string', { messages: [{ role: 'user', content: ['x'] }] }, 'messages[0].content'],
      ['content over 8000 characters', { messages: [user('x'.repeat(8001))] }, 'messages[0].content'],
    ];
    it.each(cases)('%s -> 400 naming the field', async (_name, body, field) => {
      const res = await chat().send(body as object).expect(400);
      expect(res.body).toMatchObject({ statusCode: 400, field });
      expect((res.body as { message: string }).message).toContain(field);
    });

    it('rejects malformed JSON with 400 JSON', async () => {
      const res = await chat().set('Content-Type', 'application/json').send('{"messages": [').expect(400);
      expect(res.body).toMatchObject({ statusCode: 400, field: 'body' });
    });

    it('rejects bodies over 64 KiB with 413 JSON, and accepts one just under', async () => {
      const big = { messages: [user('x'.repeat(7000))], padding: 'p'.repeat(64 * 1024) };
      const res = await chat().send(big).expect(413);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      const fits = { messages: [user('fits')], padding: 'p'.repeat(60 * 1024) };
      await chat().send(fits).buffer(true).parse(text).expect(200);
    });
  });

  it('answers unknown /api routes with a JSON 404', async () => {
    const res = await request(server).get('/api/nope').expect(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ statusCode: 404 });
  });
});

describe('rate limiting', () => {
  let fake: FakeAnthropic;
  let app: INestApplication;
  let server: Server;

  beforeAll(async () => {
    fake = await startFake();
    app = await createApp(testConfig(fake.url, { RATE_LIMIT_MAX: '2', RATE_LIMIT_TTL_MS: '60000' }), memoryLogger().logger);
    await app.init();
    server = app.getHttpServer() as Server;
  });

  afterAll(async () => {
    await app?.close();
    await fake?.close();
  });

  const attempt = (client: string, token = ACCESS_TOKEN) =>
    request(server)
      .post('/api/chat')
      .set('X-Forwarded-For', client)
      .set('Authorization', `Bearer ${token}`)
      .send({ messages: [user('hi')] })
      .buffer(true)
      .parse(text);

  it('answers 429 with Retry-After once a client exceeds the limit, per client', async () => {
    expect((await attempt('203.0.113.7')).status).toBe(200);
    expect((await attempt('203.0.113.7', 'wrong-token')).status).toBe(401);
    const limited = await attempt('203.0.113.7');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(JSON.parse(limited.body as string)).toMatchObject({ statusCode: 429 });
    // another client is unaffected, and health is never limited
    expect((await attempt('198.51.100.9')).status).toBe(200);
    for (let i = 0; i < 3; i++) await request(server).get('/api/health').expect(200);
  });
});

describe('SSE keep-alive', () => {
  let fake: FakeAnthropic;
  let app: INestApplication;

  beforeAll(async () => {
    fake = await startFake();
    app = await createApp(testConfig(fake.url, { SSE_HEARTBEAT_MS: '100' }), memoryLogger().logger);
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.close();
  });

  it('sends comment lines on a slow stream without disturbing the events', async () => {
    const res = await request(app.getHttpServer() as Server)
      .post('/api/chat')
      .set('Authorization', `Bearer ${ACCESS_TOKEN}`)
      .send({ messages: [user('SLOW_STREAM x')] })
      .buffer(true)
      .parse(text)
      .expect(200);
    const body = res.body as string;
    expect(body).toContain(': keep-alive\n\n');
    expect(replyText(parseSse(body))).toBe(`${REPLY_PREFIX}SLOW_STREAM x`);
  });
});
