import { JsonLogger } from './json-logger';

function capture(level: ConstructorParameters<typeof JsonLogger>[0]) {
  const lines: string[] = [];
  const logger = new JsonLogger(level, (line) => lines.push(line));
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

describe('JsonLogger', () => {
  it('writes one JSON object per line with level, message and context', () => {
    const { logger, lines, entries } = capture('log');
    logger.log('Mapped {/api/health, GET} route', 'RouterExplorer');
    logger.error('boom', 'Error: boom\n    at x', 'ExceptionsHandler');
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    expect(entries()[0]).toMatchObject({ level: 'log', msg: 'Mapped {/api/health, GET} route', context: 'RouterExplorer' });
    expect(entries()[1]).toMatchObject({ level: 'error', msg: 'boom', context: 'ExceptionsHandler', stack: 'Error: boom\n    at x' });
    expect(typeof entries()[0].time).toBe('string');
  });

  it('filters below the configured level and supports structured events', () => {
    const { logger, entries } = capture('warn');
    logger.log('hidden');
    logger.debug('hidden');
    logger.warn('shown');
    logger.event('log', 'request', { status: 200 });
    logger.event('error', 'request', { status: 500, requestId: 'r1' }, 'HTTP');
    expect(entries()).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'shown' }),
      expect.objectContaining({ level: 'error', msg: 'request', status: 500, requestId: 'r1', context: 'HTTP' }),
    ]);
  });
});
