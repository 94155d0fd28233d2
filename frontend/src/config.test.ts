// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import { apiUrl, DEFAULT_CONFIG, loadConfig, parseConfig } from './config.ts';

function answer(body: string, status: number, type: string): typeof fetch {
  return vi.fn<typeof fetch>(() => Promise.resolve(new Response(body, { status, headers: { 'content-type': type } })));
}

describe('runtime config', () => {
  it('reads the API base from /config.json, revalidating it', async () => {
    const fetchMock = answer('{\n  "apiBase": "https://api.example/",\n  "flags": {}\n}\n', 200, 'application/json');
    const config = await loadConfig(fetchMock);
    expect(config).toEqual({ apiBase: 'https://api.example' });
    expect(apiUrl(config, '/api/chat')).toBe('https://api.example/api/chat');
    const [url, init] = vi.mocked(fetchMock).mock.calls[0] ?? [];
    expect(url).toBe('/config.json');
    expect(init?.cache).toBe('no-store');
  });

  it('falls back to the same origin without a config.json', async () => {
    // 404, an edge that answers index.html for an unknown path, a network failure, bad JSON.
    expect(await loadConfig(answer('missing', 404, 'text/plain'))).toEqual(DEFAULT_CONFIG);
    expect(await loadConfig(answer('<!doctype html>', 200, 'text/html'))).toEqual(DEFAULT_CONFIG);
    expect(await loadConfig(vi.fn<typeof fetch>(() => Promise.reject(new TypeError('offline'))))).toEqual(DEFAULT_CONFIG);
    expect(await loadConfig(answer('{', 200, 'application/json'))).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ apiBase: 42 })).toEqual(DEFAULT_CONFIG);
    expect(parseConfig(['x'])).toEqual(DEFAULT_CONFIG);
    expect(apiUrl(DEFAULT_CONFIG, '/api/chat')).toBe('/api/chat');
  });
});
