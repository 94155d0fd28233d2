import { useCallback, useContext, useEffect, useRef, useState } from 'react';
import { ChatError, streamChat } from '../api/chat.ts';
import { clearToken, loadToken, saveToken } from '../auth/token.ts';
import { apiUrl, RuntimeConfigContext } from '../config.ts';
import { Composer } from '../components/Composer.tsx';
import { TokenForm } from '../components/TokenForm.tsx';
import { MAX_MESSAGE_CHARS, toApiMessages, type Item } from './history.ts';

export function Chat() {
  const config = useContext(RuntimeConfigContext);
  const [token, setToken] = useState<string | null>(() => loadToken());
  const [tokenReason, setTokenReason] = useState<string | undefined>(undefined);
  const [items, setItems] = useState<Item[]>([]);
  const [draft, setDraft] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const nextId = useRef(1);
  const abortRef = useRef<AbortController | null>(null);
  const logEndRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    document.title = 'Chat · deckhand';
    return () => {
      abortRef.current?.abort();
    };
  }, []);

  useEffect(() => {
    logEndRef.current?.scrollIntoView({ block: 'end' });
  }, [items]);

  const acceptToken = useCallback((value: string) => {
    saveToken(value);
    setToken(value);
    setTokenReason(undefined);
    setError(null);
  }, []);

  function forgetToken() {
    abortRef.current?.abort();
    clearToken();
    setToken(null);
    setTokenReason(undefined);
  }

  function newConversation() {
    abortRef.current?.abort();
    setItems([]);
    setError(null);
  }

  async function send() {
    const text = draft.trim();
    if (!text || streaming || token === null) return;
    const userId = nextId.current++;
    const replyId = nextId.current++;
    const history = [...toApiMessages(items), { role: 'user' as const, content: text }];
    setItems((prev) => [
      ...prev,
      { id: userId, role: 'user', content: text, status: 'done' },
      { id: replyId, role: 'assistant', content: '', status: 'streaming' },
    ]);
    setDraft('');
    setError(null);
    setStreaming(true);
    const controller = new AbortController();
    abortRef.current = controller;
    const progress = { received: false };
    const update = (fn: (item: Item) => Item) => {
      setItems((prev) => prev.map((item) => (item.id === replyId ? fn(item) : item)));
    };
    try {
      await streamChat({
        messages: history,
        token,
        url: apiUrl(config, '/api/chat'),
        signal: controller.signal,
        onDelta: (delta) => {
          progress.received = true;
          update((item) => ({ ...item, content: item.content + delta }));
        },
      });
      update((item) => ({ ...item, status: 'done' }));
    } catch (err) {
      const failure =
        err instanceof ChatError ? err : new ChatError('network', 'Something went wrong. Try again.', { cause: err });
      if (!progress.received) {
        // Nothing arrived: take the message back into the composer so it can be sent again.
        setItems((prev) => prev.filter((item) => item.id !== userId && item.id !== replyId));
        setDraft((current) => current || text);
      } else {
        update((item) => ({ ...item, status: 'failed' }));
      }
      if (failure.kind === 'unauthorized') {
        clearToken();
        setToken(null);
        setTokenReason('The access token was rejected. Enter it again.');
      } else if (failure.kind !== 'aborted') {
        setError(failure.message);
      }
    } finally {
      if (abortRef.current === controller) abortRef.current = null;
      setStreaming(false);
    }
  }

  return (
    <section className="chat">
      <div className="chat-header">
        <h1>Chat</h1>
        <div className="row">
          {items.length > 0 && (
            <button type="button" className="secondary" onClick={newConversation}>
              New conversation
            </button>
          )}
          {token !== null && (
            <button type="button" className="secondary" onClick={forgetToken}>
              Forget token
            </button>
          )}
        </div>
      </div>

      {token === null ? (
        <TokenForm reason={tokenReason} onSubmit={acceptToken} />
      ) : (
        <>
          <ol className="log" role="log" aria-label="Conversation" aria-busy={streaming}>
            {items.length === 0 && <li className="empty">No messages yet. Ask Claude something.</li>}
            {items.map((item) => (
              <li key={item.id} className={`message ${item.role} ${item.status}`}>
                <span className="who">{item.role === 'user' ? 'You' : 'Claude'}</span>
                <div className="text">
                  {item.content}
                  {item.status === 'streaming' && (
                    <span className="cursor" role="img" aria-label="Claude is replying">
                      ▍
                    </span>
                  )}
                </div>
                {item.status === 'failed' && <span className="note">Reply incomplete</span>}
              </li>
            ))}
          </ol>
          <div ref={logEndRef} />
          {error && (
            <p className="notice notice-error" role="alert">
              {error}
            </p>
          )}
          <Composer
            value={draft}
            onChange={setDraft}
            onSend={() => void send()}
            onStop={() => abortRef.current?.abort()}
            streaming={streaming}
            maxLength={MAX_MESSAGE_CHARS}
          />
        </>
      )}
    </section>
  );
}
