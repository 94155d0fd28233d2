import { BadRequestException } from '@nestjs/common';
import { ChatRequestError, ChatRequestPipe, MAX_CONTENT_CHARS, MAX_MESSAGES, parseChatRequest } from './chat-request';

function fieldOf(body: unknown): string {
  try {
    parseChatRequest(body);
  } catch (err) {
    if (err instanceof ChatRequestError) return err.field;
    throw err;
  }
  throw new Error('expected a ChatRequestError');
}

const conversation = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `message ${i}` }));

describe('parseChatRequest', () => {
  it('accepts a single user message and an alternating conversation, dropping unknown keys', () => {
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'hi', extra: 1 }] })).toEqual({
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(parseChatRequest({ messages: conversation(MAX_MESSAGES - 1) }).messages).toHaveLength(MAX_MESSAGES - 1);
  });

  it('requires a JSON object with a non-empty messages array', () => {
    expect(fieldOf(null)).toBe('body');
    expect(fieldOf([])).toBe('body');
    expect(fieldOf({})).toBe('messages');
    expect(fieldOf({ messages: 'hi' })).toBe('messages');
    expect(fieldOf({ messages: [] })).toBe('messages');
  });

  it('allows at most 50 messages', () => {
    expect(parseChatRequest({ messages: conversation(49) }).messages).toHaveLength(49);
    expect(fieldOf({ messages: conversation(51) })).toBe('messages');
  });

  it('checks each message shape and role', () => {
    expect(fieldOf({ messages: ['hi'] })).toBe('messages[0]');
    expect(fieldOf({ messages: [{ role: 'system', content: 'x' }] })).toBe('messages[0].role');
    expect(fieldOf({ messages: [{ role: 'assistant', content: 'x' }] })).toBe('messages[0].role');
    expect(fieldOf({ messages: [{ role: 'user', content: 42 }] })).toBe('messages[0].content');
    expect(fieldOf({ messages: [{ role: 'user', content: '  ' }] })).toBe('messages[0].content');
  });

  it('requires alternating roles', () => {
    const messages = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'assistant', content: 'c' },
    ];
    expect(fieldOf({ messages })).toBe('messages[2].role');
  });

  it('requires the last message to come from the user', () => {
    expect(() => parseChatRequest({ messages: conversation(2) })).toThrow(
      'messages[1].role must be "user": the conversation must end with a user message',
    );
  });

  it('limits content to 8000 characters', () => {
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'x'.repeat(MAX_CONTENT_CHARS) }] }).messages).toHaveLength(1);
    const messages = [...conversation(2), { role: 'user', content: 'x'.repeat(MAX_CONTENT_CHARS + 1) }];
    expect(fieldOf({ messages })).toBe('messages[2].content');
  });
});

describe('ChatRequestPipe', () => {
  it('turns a validation failure into a 400 naming the field', () => {
    const pipe = new ChatRequestPipe();
    try {
      pipe.transform({ messages: [{ role: 'user', content: '' }] });
      throw new Error('expected BadRequestException');
    } catch (err) {
      expect(err).toBeInstanceOf(BadRequestException);
      const ex = err as BadRequestException;
      expect(ex.getStatus()).toBe(400);
      expect(ex.getResponse()).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'messages[0].content must not be empty',
        field: 'messages[0].content',
      });
    }
  });
});
