// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { bytes, streamOf } from '../test/streams.ts';
import { SseParser, readSse, type SseEvent } from './sse.ts';

async function collect(chunks: readonly (string | Uint8Array)[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const event of readSse(streamOf(chunks))) out.push(event);
  return out;
}

const STREAM =
  'event: delta\ndata: {"text":"Hel"}\n\n' +
  'event: delta\ndata: {"text":"lo"}\n\n' +
  ': keep-alive\n\n' +
  'event: done\ndata: {}\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'delta', data: '{"text":"Hel"}' },
  { event: 'delta', data: '{"text":"lo"}' },
  { event: 'done', data: '{}' },
];

describe('SseParser', () => {
  it('parses whole events and ignores comments', () => {
    expect(new SseParser().push(STREAM)).toEqual(EXPECTED);
  });

  it('gives the same events for every possible split point', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(STREAM.slice(0, cut)), ...parser.push(STREAM.slice(cut))];
      expect(events, `split at ${String(cut)}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events when fed one character at a time', () => {
    const parser = new SseParser();
    const chars = Array.from({ length: STREAM.length }, (_, i) => STREAM.charAt(i));
    const events = chars.flatMap((c) => parser.push(c));
    expect(events).toEqual(EXPECTED);
  });

  it('joins multi-line data with newlines', () => {
    const events = new SseParser().push('event: delta\ndata: line one\ndata:line two\ndata\n\n');
    expect(events).toEqual([{ event: 'delta', data: 'line one\nline two\n' }]);
  });

  it('accepts CRLF and bare CR line endings, including a CRLF split across chunks', () => {
    const parser = new SseParser();
    const events = [
      ...parser.push('event: a\r\ndata: 1\r'),
      ...parser.push('\n\r\nevent: b\rdata: 2\r\r'),
    ];
    expect(events).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ]);
  });

  it('defaults the event type to "message", resets it per event and keeps the last id', () => {
    const events = new SseParser().push('id: 7\ndata: x\n\nevent: custom\ndata: y\n\ndata: z\n\n');
    expect(events).toEqual([
      { event: 'message', data: 'x', id: '7' },
      { event: 'custom', data: 'y', id: '7' },
      { event: 'message', data: 'z', id: '7' },
    ]);
  });

  it('does not dispatch an event without data lines', () => {
    expect(new SseParser().push('event: ping\n\nretry: 10\n\n')).toEqual([]);
  });

  it('strips only one leading space from a value', () => {
    expect(new SseParser().push('data:   spaced\n\n')).toEqual([{ event: 'message', data: '  spaced' }]);
  });
});

describe('readSse', () => {
  it('decodes UTF-8 sequences split across byte chunks', async () => {
    const all = bytes('event: delta\ndata: {"text":"héllo ✓ 🚀"}\n\n');
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += 3) chunks.push(all.slice(i, i + 3));
    expect(await collect(chunks)).toEqual([{ event: 'delta', data: '{"text":"héllo ✓ 🚀"}' }]);
  });

  it('drops an incomplete trailing event when the stream ends', async () => {
    expect(await collect(['data: complete\n\n', 'data: cut off'])).toEqual([{ event: 'message', data: 'complete' }]);
  });
});
