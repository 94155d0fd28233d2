import type { Response } from 'express';

/**
 * The Server-Sent Events the chat endpoint emits (documented in README.md):
 *   event: delta  data: {"text": "..."}                      a piece of the reply, in order
 *   event: done   data: {"stopReason": "...", "usage": {...}} the reply is complete
 *   event: error  data: {"message": "...", "type": "..."}     the reply failed; the stream ends
 * Comment lines (": keep-alive") may appear between events and carry no data.
 */
export type ChatEvent =
  | { event: 'delta'; data: { text: string } }
  | {
      event: 'done';
      data: { stopReason: string | null; usage: { inputTokens: number; outputTokens: number }; requestId: string };
    }
  | { event: 'error'; data: { message: string; type: string; requestId: string } };

/** One SSE frame. JSON.stringify never emits raw newlines, so `data` is always a single line. */
export function formatSse(event: ChatEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

export const SSE_KEEPALIVE = ': keep-alive\n\n';

/** Commits the response as an event stream that proxies must not buffer or transform. */
export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-store, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}
