import Anthropic from '@anthropic-ai/sdk';

export interface UpstreamFailure {
  /** Stable code for the UI: overloaded, rate_limited, unavailable, upstream_auth, upstream_error. */
  type: string;
  /** Safe to show to the user; never contains credentials. */
  message: string;
  /** For the log only: what the upstream said. */
  detail: string;
}

function upstreamType(err: { type?: unknown; error?: unknown }): string | undefined {
  if (typeof err.type === 'string') return err.type;
  const body = err.error as { error?: { type?: unknown }; type?: unknown } | undefined;
  const nested = body?.error?.type;
  if (typeof nested === 'string') return nested;
  return typeof body?.type === 'string' ? body.type : undefined;
}

/** Maps anything the Anthropic SDK throws to a user-facing failure. */
export function describeUpstreamError(err: unknown): UpstreamFailure {
  if (err instanceof Anthropic.APIConnectionError) {
    return {
      type: 'unavailable',
      message: 'Could not reach the model service. Please try again.',
      detail: err.message,
    };
  }
  if (err instanceof Anthropic.APIError) {
    const kind = upstreamType(err as { type?: unknown; error?: unknown });
    const detail = `status=${err.status ?? 'stream'} type=${kind ?? 'unknown'} ${err.message}`;
    if (kind === 'overloaded_error' || err.status === 529) {
      return { type: 'overloaded', message: 'Claude is overloaded right now. Please try again in a moment.', detail };
    }
    if (kind === 'rate_limit_error' || err.status === 429) {
      return { type: 'rate_limited', message: 'The model rate limit was reached. Please try again shortly.', detail };
    }
    if (kind === 'authentication_error' || kind === 'permission_error' || err.status === 401 || err.status === 403) {
      return {
        type: 'upstream_auth',
        message: 'The server could not authenticate with the model service.',
        detail,
      };
    }
    return { type: 'upstream_error', message: 'The model service returned an error. Please try again.', detail };
  }
  const detail = err instanceof Error ? err.message : String(err);
  return { type: 'upstream_error', message: 'The model service returned an error. Please try again.', detail };
}
