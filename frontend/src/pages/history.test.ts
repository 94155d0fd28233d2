import { describe, expect, it } from 'vitest';
import { toApiMessages, type Item } from './history.ts';

describe('toApiMessages', () => {
  it('keeps complete exchanges and drops ones whose reply failed or is still streaming', () => {
    const items: Item[] = [
      { id: 1, role: 'user', content: 'q1', status: 'done' },
      { id: 2, role: 'assistant', content: 'a1', status: 'done' },
      { id: 3, role: 'user', content: 'q2', status: 'done' },
      { id: 4, role: 'assistant', content: 'partial', status: 'failed' },
      { id: 5, role: 'user', content: 'q3', status: 'done' },
      { id: 6, role: 'assistant', content: 'a3', status: 'done' },
      { id: 7, role: 'user', content: 'q4', status: 'done' },
      { id: 8, role: 'assistant', content: '', status: 'streaming' },
    ];
    expect(toApiMessages(items)).toEqual([
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q3' },
      { role: 'assistant', content: 'a3' },
    ]);
  });
});
