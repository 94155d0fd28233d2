import { requestIdFrom } from './request-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('keeps a well-formed incoming id', () => {
    expect(requestIdFrom('3f2b8c1e-9d4a-4b7e-8c2d-1a2b3c4d5e6f')).toBe('3f2b8c1e-9d4a-4b7e-8c2d-1a2b3c4d5e6f');
    expect(requestIdFrom('abc-123.def:4_5')).toBe('abc-123.def:4_5');
    expect(requestIdFrom(['first-id', 'second'])).toBe('first-id');
  });
  it('replaces missing, oversized or unsafe ids with a fresh UUID', () => {
    expect(requestIdFrom(undefined)).toMatch(UUID);
    expect(requestIdFrom('x'.repeat(129))).toMatch(UUID);
    expect(requestIdFrom('evil\nlog line')).toMatch(UUID);
    expect(requestIdFrom('')).toMatch(UUID);
    expect(requestIdFrom('Root=1-abc')).toMatch(UUID);
    expect(requestIdFrom(undefined)).not.toBe(requestIdFrom(undefined));
  });
});
