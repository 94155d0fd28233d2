import type { ChatMessage } from '../api/chat.ts';

/** The backend rejects longer messages (400); stopping at the same limit in the UI is friendlier. */
export const MAX_MESSAGE_CHARS = 8000;

export type ItemStatus = 'done' | 'streaming' | 'failed';

export interface Item extends ChatMessage {
  id: number;
  status: ItemStatus;
}

/**
 * The history sent to the API: only complete user/assistant exchanges, so the roles alternate.
 * An exchange whose reply failed or was stopped stays on screen but is not sent again.
 */
export function toApiMessages(items: readonly Item[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let i = 0; i + 1 < items.length; i++) {
    const user = items[i];
    const reply = items[i + 1];
    if (user?.role === 'user' && reply?.role === 'assistant' && reply.status === 'done') {
      out.push({ role: 'user', content: user.content }, { role: 'assistant', content: reply.content });
      i++;
    }
  }
  return out;
}
