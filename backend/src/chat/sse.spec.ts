import { formatSse } from './sse';

describe('formatSse', () => {
  it('frames an event with a single JSON data line', () => {
    expect(formatSse({ event: 'delta', data: { text: 'line one\nline two' } })).toBe(
      'event: delta\ndata: {"text":"line one\\nline two"}\n\n',
    );
  });
});
