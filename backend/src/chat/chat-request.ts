import { BadRequestException, Injectable, PipeTransform } from '@nestjs/common';

export const MAX_MESSAGES = 50;
export const MAX_CONTENT_CHARS = 8000;

export type ChatRole = 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
}

/** A validation failure: `field` is a path into the body such as `messages[3].content`. */
export class ChatRequestError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChatRequestError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a chat request body: 1..50 messages, each `{role, content}` with role "user" or
 * "assistant" and 1..8000 characters of content, roles alternating, starting and ending with
 * "user". Returns a clean copy (unknown keys dropped) or throws ChatRequestError.
 */
export function parseChatRequest(body: unknown): ChatRequest {
  if (!isPlainObject(body)) throw new ChatRequestError('body', 'body must be a JSON object');
  const { messages } = body;
  if (messages === undefined) throw new ChatRequestError('messages', 'messages is required');
  if (!Array.isArray(messages)) throw new ChatRequestError('messages', 'messages must be an array');
  if (messages.length === 0) throw new ChatRequestError('messages', 'messages must contain at least one message');
  if (messages.length > MAX_MESSAGES) {
    throw new ChatRequestError('messages', `messages must contain at most ${MAX_MESSAGES} messages (got ${messages.length})`);
  }
  const clean: ChatMessage[] = messages.map((message: unknown, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (!isPlainObject(message)) throw new ChatRequestError(at, `${at} must be an object with role and content`);
    const { role, content } = message;
    if (role !== 'user' && role !== 'assistant') {
      throw new ChatRequestError(`${at}.role`, `${at}.role must be "user" or "assistant"`);
    }
    const expected: ChatRole = i % 2 === 0 ? 'user' : 'assistant';
    if (role !== expected) {
      throw new ChatRequestError(
        `${at}.role`,
        i === 0
          ? `${at}.role must be "user": a conversation starts with the user`
          : `${at}.role must be "${expected}": roles must alternate between user and assistant`,
      );
    }
    if (typeof content !== 'string') throw new ChatRequestError(`${at}.content`, `${at}.content must be a string`);
    if (content.trim() === '') throw new ChatRequestError(`${at}.content`, `${at}.content must not be empty`);
    if (content.length > MAX_CONTENT_CHARS) {
      throw new ChatRequestError(
        `${at}.content`,
        `${at}.content must be at most ${MAX_CONTENT_CHARS} characters (got ${content.length})`,
      );
    }
    return { role, content };
  });
  const last = clean.length - 1;
  if (clean[last].role !== 'user') {
    throw new ChatRequestError(`messages[${last}].role`, `messages[${last}].role must be "user": the conversation must end with a user message`);
  }
  return { messages: clean };
}

/** Nest pipe around parseChatRequest: failures become 400 `{statusCode, error, message, field}`. */
@Injectable()
export class ChatRequestPipe implements PipeTransform<unknown, ChatRequest> {
  transform(value: unknown): ChatRequest {
    try {
      return parseChatRequest(value);
    } catch (err) {
      if (err instanceof ChatRequestError) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: err.message, field: err.field });
      }
      throw err;
    }
  }
}
