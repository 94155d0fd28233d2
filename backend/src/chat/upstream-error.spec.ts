import Anthropic from '@anthropic-ai/sdk';
import { describeUpstreamError } from './upstream-error';

const body = (type: string) => ({ type: 'error', error: { type, message: 'upstream said no' } });

/** An HTTP error response, as the SDK builds it. */
function apiError(status: number, type: string): Error {
  return Anthropic.APIError.generate(status, body(type), undefined, new Headers());
}

/** An `event: error` inside a stream, as the SDK's stream reader throws it (no status). */
function streamError(type: string): Error {
  return new Anthropic.APIError(undefined, body(type), undefined, new Headers());
}

describe('describeUpstreamError', () => {
  it('classifies the upstream error types the UI distinguishes', () => {
    expect(describeUpstreamError(streamError('overloaded_error')).type).toBe('overloaded');
    expect(describeUpstreamError(apiError(529, 'overloaded_error')).type).toBe('overloaded');
    expect(describeUpstreamError(apiError(429, 'rate_limit_error')).type).toBe('rate_limited');
    expect(describeUpstreamError(apiError(401, 'authentication_error')).type).toBe('upstream_auth');
    expect(describeUpstreamError(apiError(500, 'api_error')).type).toBe('upstream_error');
    expect(describeUpstreamError(streamError('api_error')).type).toBe('upstream_error');
    expect(describeUpstreamError(new Anthropic.APIConnectionError({ message: 'ECONNREFUSED' })).type).toBe('unavailable');
    expect(describeUpstreamError(new Error('boom')).type).toBe('upstream_error');
  });

  it('keeps upstream details for the log only', () => {
    const failure = describeUpstreamError(apiError(500, 'api_error'));
    expect(failure.message).not.toContain('upstream said no');
    expect(failure.detail).toContain('upstream said no');
    expect(failure.detail).toContain('status=500');
  });
});
