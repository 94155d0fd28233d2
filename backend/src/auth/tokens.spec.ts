import { bearerToken, secretsEqual } from './tokens';

describe('secretsEqual', () => {
  it('is true only for identical strings, whatever the lengths', () => {
    expect(secretsEqual('s3cret-token', 's3cret-token')).toBe(true);
    expect(secretsEqual('s3cret-token', 's3cret-tokeN')).toBe(false);
    expect(secretsEqual('short', 's3cret-token')).toBe(false);
    expect(secretsEqual('', 's3cret-token')).toBe(false);
    expect(secretsEqual('ünïcode', 'ünïcode')).toBe(true);
  });
});

describe('bearerToken', () => {
  it('extracts the token of a Bearer header', () => {
    expect(bearerToken('Bearer abc.def-123')).toBe('abc.def-123');
    expect(bearerToken('bearer abc')).toBe('abc');
  });
  it('rejects other schemes and malformed headers', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });
});
