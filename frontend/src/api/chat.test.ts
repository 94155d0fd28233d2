// @vitest-environment node
import { describe, expect, it, vi, type Mock } from 'vitest';
import { jsonResponse, sseResponse } from '../test/streams.ts';
import { ChatError, parseRetryAfter, streamChat, type ChatMessage } from './chat.ts';

const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Hi' }];

async function run(response: Response | Error): Promise<{ deltas: string[]; error: unknown; fetchMock: Mock<typeof fetch> }> {
  const fetchMock = vi.fn<typeof fetch>(() =>
    response instanceof Error ? Promise.reject(response) : Promise.resolve(response),
  );
  const deltas: string[] = [];
  let error: unknown;
  try {
    await streamChat({
      messages: MESSAGES,
      token: 'tok-123',
      onDelta: (t) => deltas.push(t),
      fetchImpl: fetchMock,
    });
  } catch (e) {
    error = e;
  }
  return { deltas, error, fetchMock };
}

describe('streamChat', () => {
  it('POSTs the conversation to the relative /api/chat URL with the bearer token', async () => {
    const { fetchMock, error } = await run(sseResponse(['event: done\ndata: {}\n\n']));
    expect(error).toBeUndefined();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe('/api/chat');
    expect(init?.method).toBe('POST');
    const headers = new Headers(init?.headers);
    expect(headers.get('authorization')).toBe('Bearer tok-123');
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('accept')).toBe('text/event-stream');
    expect(JSON.parse(init?.body as string)).toEqual({ messages: MESSAGES });
  });

  it('streams deltas split mid-event across chunks and resolves on done', async () => {
    const { deltas, error } = await run(
      sseResponse(['event: del', 'ta\ndata: {"te', 'xt":"Hello"}\n', '\nevent: delta\r\ndata: {"text":", world\\n"}\r\n\r\n', 'event: done\ndata: {}\n\n']),
    );
    expect(error).toBeUndefined();
    expect(deltas).toEqual(['Hello', ', world\n']);
  });

  it('rejects with the server message on an error event, after the deltas before it', async () => {
    const { deltas, error } = await run(
      sseResponse(['event: delta\ndata: {"text":"partial"}\n\nevent: error\ndata: {"message":"upstream overloaded"}\n\n']),
    );
    expect(deltas).toEqual(['partial']);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).kind).toBe('stream');
    expect((error as ChatError).message).toContain('upstream overloaded');
  });

  it('rejects when the stream ends without done', async () => {
    const { error } = await run(sseResponse(['event: delta\ndata: {"text":"a"}\n\n']));
    expect((error as ChatError).kind).toBe('stream');
    expect((error as ChatError).message).toBe('The reply ended unexpectedly.');
  });

  it('maps 401 to unauthorized', async () => {
    const { error } = await run(jsonResponse(401, { statusCode: 401, message: 'Unauthorized' }));
    expect((error as ChatError).kind).toBe('unauthorized');
    expect((error as ChatError).status).toBe(401);
  });

  it('maps 429 to rate-limited with the Retry-After delay', async () => {
    const { error } = await run(
      jsonResponse(429, { statusCode: 429, message: 'Too Many Requests' }, { 'Retry-After': '12' }),
    );
    expect((error as ChatError).kind).toBe('rate-limited');
    expect((error as ChatError).retryAfterSeconds).toBe(12);
    expect((error as ChatError).message).toBe('Too many requests. Try again in 12 seconds.');
  });

  it('names the invalid field from a 400 body (string or NestJS message array)', async () => {
    const one = await run(jsonResponse(400, { statusCode: 400, message: 'messages[0].content is too long' }));
    expect((one.error as ChatError).kind).toBe('invalid');
    expect((one.error as ChatError).message).toContain('messages[0].content is too long');
    const many = await run(jsonResponse(400, { statusCode: 400, message: ['a is bad', 'b is bad'] }));
    expect((many.error as ChatError).message).toContain('a is bad; b is bad');
  });

  it('maps 413 and 503', async () => {
    expect(((await run(jsonResponse(413, { statusCode: 413 }))).error as ChatError).kind).toBe('too-large');
    expect(((await run(jsonResponse(503, { statusCode: 503 }))).error as ChatError).kind).toBe('unavailable');
  });

  it('maps a fetch failure to a network error', async () => {
    const { error } = await run(new TypeError('fetch failed'));
    expect((error as ChatError).kind).toBe('network');
  });

  it('refuses a 200 that is not an event stream (e.g. an index.html fallback)', async () => {
    const { error } = await run(new Response('<!doctype html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    expect((error as ChatError).kind).toBe('protocol');
  });

  it('rejects a malformed delta payload', async () => {
    const { error } = await run(sseResponse(['event: delta\ndata: not json\n\n']));
    expect((error as ChatError).kind).toBe('protocol');
  });

  it('reports an aborted request as aborted, not as a network failure', async () => {
    const controller = new AbortController();
    controller.abort();
    const fetchMock = vi.fn<typeof fetch>(() => Promise.reject(new DOMException('aborted', 'AbortError')));
    const error: unknown = await streamChat({
      messages: MESSAGES,
      token: 't',
      onDelta: () => undefined,
      signal: controller.signal,
      fetchImpl: fetchMock,
    }).catch((e: unknown) => e);
    expect((error as ChatError).kind).toBe('aborted');
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates', () => {
    expect(parseRetryAfter('30')).toBe(30);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5);
  });
});
