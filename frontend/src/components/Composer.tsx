import { useEffect, useId, useRef, type SubmitEvent, type KeyboardEvent } from 'react';

interface ComposerProps {
  value: string;
  onChange: (value: string) => void;
  onSend: () => void;
  onStop: () => void;
  streaming: boolean;
  maxLength: number;
}

export function Composer({ value, onChange, onSend, onStop, streaming, maxLength }: ComposerProps) {
  const id = useId();
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!streaming) ref.current?.focus();
  }, [streaming]);

  const canSend = !streaming && value.trim().length > 0;

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (canSend) onSend();
  }

  function keyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter sends; Shift+Enter inserts a newline. IME composition is left alone.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      if (canSend) onSend();
    }
  }

  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor={id}>Message</label>
      <textarea
        ref={ref}
        id={id}
        name="message"
        rows={3}
        maxLength={maxLength}
        value={value}
        aria-describedby={`${id}-hint`}
        onChange={(e) => {
          onChange(e.target.value);
        }}
        onKeyDown={keyDown}
      />
      <p id={`${id}-hint`} className="hint">
        Enter to send, Shift+Enter for a new line.
      </p>
      <div className="row">
        {streaming ? (
          <button type="button" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!canSend}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
