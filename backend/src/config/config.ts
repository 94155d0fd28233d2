/**
 * Configuration read from the environment once, at startup, and validated before the
 * application is created. Secrets (CLAUDE_API_KEY, API_ACCESS_TOKEN) are only ever named
 * in errors, never echoed.
 */
export interface AppConfig {
  /** TCP port the HTTP server listens on. */
  port: number;
  /** Address to bind; all interfaces by default (the container's port mapping decides). */
  host: string;
  /** Reported by GET /api/health. */
  version: string;
  /** Secret: the Anthropic API key sent upstream as x-api-key. */
  claudeApiKey: string;
  /** Secret: the bearer token clients must present on /api/chat. */
  apiAccessToken: string;
  anthropic: {
    model: string;
    /** Undefined means the SDK default (https://api.anthropic.com). */
    baseUrl: string | undefined;
    maxTokens: number;
    maxRetries: number;
    timeoutMs: number;
    systemPrompt: string | undefined;
  };
  rateLimit: {
    /** Window length in milliseconds. */
    ttlMs: number;
    /** Chat requests allowed per client per window. */
    limit: number;
  };
  /** Express "trust proxy" setting: hop count, or false. */
  trustProxy: number | boolean;
  /** How long SIGTERM waits for in-flight streams before cutting them off. */
  shutdownGraceMs: number;
  /** Interval of SSE keep-alive comments (keeps idle proxies from closing the stream). */
  sseHeartbeatMs: number;
  logLevel: LogLevelName;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export const DEFAULT_MODEL = 'claude-sonnet-5-5';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function present(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
    return fallback;
  }
  const value = Number(raw);
  if (value < min || value > max) {
    problems.push(`${name} must be an integer between ${min} and ${max} (got ${value})`);
    return fallback;
  }
  return value;
}

function secret(env: Env, name: string, problems: string[]): string {
  const value = present(env, name);
  if (value === undefined) {
    problems.push(`${name} is required but is not set (or is empty)`);
    return '';
  }
  return value;
}

function trustProxy(env: Env, problems: string[]): number | boolean {
  const raw = present(env, 'TRUST_PROXY');
  // CloudFront -> ALB -> container: the client address is two hops back in X-Forwarded-For.
  if (raw === undefined) return 2;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw) && Number(raw) <= 10) return Number(raw);
  problems.push(`TRUST_PROXY must be "false" or a hop count between 0 and 10 (got "${raw}")`);
  return 2;
}

function baseUrl(env: Env, problems: string[]): string | undefined {
  const raw = present(env, 'ANTHROPIC_BASE_URL');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`ANTHROPIC_BASE_URL must be an absolute http(s) URL (got "${raw}")`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`ANTHROPIC_BASE_URL must be an absolute http(s) URL (got "${raw}")`);
    return undefined;
  }
  return raw.replace(/\/+$/, '');
}

function logLevel(env: Env, problems: string[]): LogLevelName {
  const raw = present(env, 'LOG_LEVEL');
  if (raw === undefined) return 'log';
  if ((LOG_LEVELS as readonly string[]).includes(raw)) return raw as LogLevelName;
  problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${raw}")`);
  return 'log';
}

/**
 * Builds the configuration from `env`. Collects every problem before failing so an operator
 * fixes them in one go. `packageVersion` is the fallback for APP_VERSION.
 */
export function loadConfig(env: Env, packageVersion: string): AppConfig {
  const problems: string[] = [];
  const config: AppConfig = {
    claudeApiKey: secret(env, 'CLAUDE_API_KEY', problems),
    apiAccessToken: secret(env, 'API_ACCESS_TOKEN', problems),
    port: integer(env, 'PORT', 3000, 0, 65535, problems),
    host: present(env, 'HOST') ?? '0.0.0.0',
    version: present(env, 'APP_VERSION') ?? packageVersion,
    anthropic: {
      model: present(env, 'ANTHROPIC_MODEL') ?? DEFAULT_MODEL,
      baseUrl: baseUrl(env, problems),
      maxTokens: integer(env, 'ANTHROPIC_MAX_TOKENS', 1024, 1, 64000, problems),
      maxRetries: integer(env, 'ANTHROPIC_MAX_RETRIES', 2, 0, 10, problems),
      timeoutMs: integer(env, 'ANTHROPIC_TIMEOUT_MS', 120_000, 1000, 600_000, problems),
      systemPrompt: present(env, 'CHAT_SYSTEM_PROMPT'),
    },
    rateLimit: {
      ttlMs: integer(env, 'RATE_LIMIT_TTL_MS', 60_000, 1, 86_400_000, problems),
      limit: integer(env, 'RATE_LIMIT_MAX', 20, 1, 1_000_000, problems),
    },
    trustProxy: trustProxy(env, problems),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 25_000, 0, 600_000, problems),
    sseHeartbeatMs: integer(env, 'SSE_HEARTBEAT_MS', 15_000, 100, 600_000, problems),
    logLevel: logLevel(env, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
