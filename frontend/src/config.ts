import { createContext } from 'react';

/**
 * What the site reads at run time: `/config.json`, which deckhand writes per environment from
 * deckhand.yml's `frontend.runtime-config` (no-cache). The build — index.html included — is the
 * same in every environment, so a promotion copies it as it is.
 */
export interface RuntimeConfig {
  /** Origin of the API, without a trailing slash; empty: same origin (CloudFront routes /api/*). */
  apiBase: string;
}

export const DEFAULT_CONFIG: RuntimeConfig = { apiBase: '' };

/** The runtime config of a `/config.json` body; a missing or malformed field takes its default. */
export function parseConfig(body: unknown): RuntimeConfig {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return DEFAULT_CONFIG;
  const apiBase: unknown = (body as Record<string, unknown>).apiBase;
  return { apiBase: typeof apiBase === 'string' ? apiBase.replace(/\/+$/, '') : DEFAULT_CONFIG.apiBase };
}

/**
 * Reads `/config.json`, revalidated every time (`no-store` here, `no-cache` on the object). Without
 * one — a dev server, a site deployed without `runtime-config`, an edge that answers index.html
 * for an unknown path — the defaults.
 */
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<RuntimeConfig> {
  try {
    const response = await fetchImpl('/config.json', { cache: 'no-store', headers: { accept: 'application/json' } });
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok || !type.includes('json')) return DEFAULT_CONFIG;
    return parseConfig(await response.json());
  } catch {
    return DEFAULT_CONFIG;
  }
}

/** A path of the API under the configured base. */
export function apiUrl(config: RuntimeConfig, path: string): string {
  return `${config.apiBase}${path}`;
}

export const RuntimeConfigContext = createContext<RuntimeConfig>(DEFAULT_CONFIG);
