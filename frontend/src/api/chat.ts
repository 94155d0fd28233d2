import { readSse } from './sse.ts';

export type ChatRole = 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type ChatErrorKind =
  | 'unauthorized'
  | 'rate-limited'
  | 'invalid'
  | 'too-large'
  | 'unavailable'
  | 'network'
  | 'stream'
  | 'protocol'
  | 'http'
  | 'aborted';

export class ChatError extends Error {
  readonly kind: ChatErrorKind;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ChatErrorKind,
    message: string,
    options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChatError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export interface StreamChatOptions {
  messages: ChatMessage[];
  token: string;
  onDelta: (text: string) => void;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Defaults to the same-origin relative path, which CloudFront routes to the ALB. */
  url?: string;
}

/** Parses a Retry-After header (delay-seconds or HTTP-date) into whole seconds. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** Pulls a human-readable message out of a JSON error body such as NestJS's `{statusCode, message}`. */
async function errorMessage(response: Response): Promise<string | undefined> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'message' in body) {
      const message: unknown = body.message;
      if (typeof message === 'string') return message;
      if (Array.isArray(message)) return message.filter((m) => typeof m === 'string').join('; ');
    }
  } catch {
    // not JSON: fall through
  }
  return undefined;
}

async function httpError(response: Response): Promise<ChatError> {
  const status = response.status;
  const detail = await errorMessage(response);
  switch (status) {
    case 401:
      return new ChatError('unauthorized', 'The access token was rejected.', { status });
    case 429: {
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      const when =
        retryAfter === undefined
          ? 'Try again shortly.'
          : `Try again in ${String(retryAfter)} second${retryAfter === 1 ? '' : 's'}.`;
      return new ChatError('rate-limited', `Too many requests. ${when}`, {
        status,
        ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      });
    }
    case 400:
      return new ChatError('invalid', `The request was rejected: ${detail ?? 'invalid input'}.`, { status });
    case 413:
      return new ChatError('too-large', 'The conversation is too long to send. Start a new one.', { status });
    case 502:
    case 503:
    case 504:
      return new ChatError('unavailable', 'The chat service is unavailable right now. Try again shortly.', {
        status,
      });
    default:
      return new ChatError('http', `The server answered ${String(status)}${detail ? `: ${detail}` : ''}.`, {
        status,
      });
  }
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch (cause) {
    throw new ChatError('protocol', 'The server sent a malformed event.', { cause });
  }
}

function field(payload: unknown, name: string): unknown {
  if (typeof payload === 'object' && payload !== null && name in payload) {
    return (payload as Record<string, unknown>)[name];
  }
  return undefined;
}

/**
 * POSTs the conversation to /api/chat and streams the assistant's reply.
 * Resolves when the server sends `done`; rejects with a ChatError otherwise.
 */
export async function streamChat(options: StreamChatOptions): Promise<void> {
  const fetchImpl = options.fetchImpl ?? fetch;
  let response: Response;
  try {
    response = await fetchImpl(options.url ?? '/api/chat', {
      method: 'POST',
      headers: {
        Accept: 'text/event-stream',
        'Content-Type': 'application/json',
        Authorization: `Bearer ${options.token}`,
      },
      body: JSON.stringify({ messages: options.messages }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (cause) {
    if (options.signal?.aborted) throw new ChatError('aborted', 'Stopped.', { cause });
    throw new ChatError('network', 'Could not reach the server. Check your connection and try again.', { cause });
  }

  if (!response.ok) throw await httpError(response);
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream') || response.body === null) {
    throw new ChatError('protocol', 'The server sent an unexpected response instead of a reply stream.', {
      status: response.status,
    });
  }

  try {
    for await (const event of readSse(response.body)) {
      switch (event.event) {
        case 'delta': {
          const text = field(parseJson(event.data), 'text');
          if (typeof text !== 'string') throw new ChatError('protocol', 'The server sent a malformed event.');
          options.onDelta(text);
          break;
        }
        case 'done':
          return;
        case 'error': {
          const message = field(parseJson(event.data), 'message');
          throw new ChatError(
            'stream',
            `The reply was interrupted: ${typeof message === 'string' && message ? message : 'unknown error'}`,
          );
        }
        default:
          // Unknown event types are ignored so the server can add new ones.
          break;
      }
    }
  } catch (cause) {
    if (cause instanceof ChatError) throw cause;
    if (options.signal?.aborted) throw new ChatError('aborted', 'Stopped.', { cause });
    throw new ChatError('network', 'The connection was lost while the reply was streaming.', { cause });
  }
  if (options.signal?.aborted) throw new ChatError('aborted', 'Stopped.');
  throw new ChatError('stream', 'The reply ended unexpectedly.');
}
