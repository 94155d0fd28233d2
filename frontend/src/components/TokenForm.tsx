import { useEffect, useId, useRef, useState, type SubmitEvent } from 'react';

interface TokenFormProps {
  /** Why the token is asked for again (e.g. it was rejected); shown as an alert. */
  reason?: string | undefined;
  onSubmit: (token: string) => void;
}

export function TokenForm({ reason, onSubmit }: TokenFormProps) {
  const [value, setValue] = useState('');
  const [empty, setEmpty] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  useEffect(() => {
    inputRef.current?.focus();
  }, [reason]);

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const token = value.trim();
    if (!token) {
      setEmpty(true);
      inputRef.current?.focus();
      return;
    }
    onSubmit(token);
  }

  return (
    <form className="token-form" aria-labelledby={`${inputId}-title`} onSubmit={submit} noValidate>
      <h2 id={`${inputId}-title`}>Access required</h2>
      {reason && (
        <p className="notice notice-error" role="alert">
          {reason}
        </p>
      )}
      <p id={hintId} className="hint">
        The chat API needs the access token you were given. It is kept for this browser tab only.
      </p>
      <label htmlFor={inputId}>Access token</label>
      <div className="row">
        <input
          ref={inputRef}
          id={inputId}
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={value}
          aria-describedby={empty ? `${hintId} ${errorId}` : hintId}
          aria-invalid={empty || undefined}
          onChange={(e) => {
            setValue(e.target.value);
            setEmpty(false);
          }}
        />
        <button type="submit">Save token</button>
      </div>
      {empty && (
        <p id={errorId} className="field-error">
          Enter the access token.
        </p>
      )}
    </form>
  );
}
