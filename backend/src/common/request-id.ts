import { randomUUID } from 'node:crypto';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id for a request: the incoming `x-request-id` when it looks like an id
 * (so the ALB's or a caller's id carries through), otherwise a fresh UUID. Anything else
 * is replaced rather than echoed, so logs and headers never carry injected text.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && SAFE_REQUEST_ID.test(value)) return value;
  return randomUUID();
}
