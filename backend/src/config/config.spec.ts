import { ConfigError, DEFAULT_MODEL, loadConfig } from './config';

const base = { CLAUDE_API_KEY: 'sk-secret-value', API_ACCESS_TOKEN: 'token-secret-value' };

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env, '1.2.3');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults when only the secrets are set', () => {
    const config = loadConfig(base, '1.2.3');
    expect(config.port).toBe(3000);
    expect(config.version).toBe('1.2.3');
    expect(config.anthropic.model).toBe(DEFAULT_MODEL);
    expect(config.anthropic.baseUrl).toBeUndefined();
    expect(config.rateLimit).toEqual({ ttlMs: 60000, limit: 20 });
    expect(config.shutdownGraceMs).toBe(25000);
    expect(config.trustProxy).toBe(2);
    expect(config.claudeApiKey).toBe('sk-secret-value');
    expect(config.apiAccessToken).toBe('token-secret-value');
  });

  it('reads every optional variable', () => {
    const config = loadConfig(
      {
        ...base,
        PORT: '8080',
        APP_VERSION: 'abc123',
        ANTHROPIC_MODEL: 'claude-opus-5',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:4599/',
        RATE_LIMIT_MAX: '3',
        RATE_LIMIT_TTL_MS: '1000',
        SHUTDOWN_GRACE_MS: '500',
        TRUST_PROXY: 'false',
        LOG_LEVEL: 'warn',
      },
      '1.2.3',
    );
    expect(config.port).toBe(8080);
    expect(config.version).toBe('abc123');
    expect(config.anthropic.model).toBe('claude-opus-5');
    expect(config.anthropic.baseUrl).toBe('http://127.0.0.1:4599');
    expect(config.rateLimit).toEqual({ ttlMs: 1000, limit: 3 });
    expect(config.shutdownGraceMs).toBe(500);
    expect(config.trustProxy).toBe(false);
    expect(config.logLevel).toBe('warn');
  });

  it('names each missing secret, and treats blank as missing', () => {
    expect(problemsOf({})).toEqual([
      'CLAUDE_API_KEY is required but is not set (or is empty)',
      'API_ACCESS_TOKEN is required but is not set (or is empty)',
    ]);
    expect(problemsOf({ ...base, API_ACCESS_TOKEN: '   ' })).toEqual([
      'API_ACCESS_TOKEN is required but is not set (or is empty)',
    ]);
  });

  it('rejects malformed numbers and URLs, naming the variable', () => {
    const problems = problemsOf({ ...base, PORT: 'eighty', RATE_LIMIT_MAX: '0', ANTHROPIC_BASE_URL: 'ftp://x', TRUST_PROXY: 'yes' });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^PORT must be an integer/);
    expect(problems.some((p) => p.startsWith('RATE_LIMIT_MAX must be an integer between 1'))).toBe(true);
    expect(problems.some((p) => p.startsWith('ANTHROPIC_BASE_URL must be'))).toBe(true);
    expect(problems.some((p) => p.startsWith('TRUST_PROXY must be'))).toBe(true);
    expect(problemsOf({ ...base, PORT: '70000' })[0]).toMatch(/PORT must be an integer between 0 and 65535 \(got 70000\)/);
  });

  it('never includes secret values in its error message', () => {
    try {
      loadConfig({ CLAUDE_API_KEY: 'sk-secret-value', PORT: 'x' }, '1');
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('API_ACCESS_TOKEN');
      expect((err as Error).message).not.toContain('sk-secret-value');
    }
  });
});
