import 'reflect-metadata';
import type { Server } from 'node:http';
import { createApp } from './app.factory';
import { JsonLogger } from './common/json-logger';
import { ShutdownService } from './common/shutdown.service';
import { AppConfig, ConfigError, loadConfig } from './config/config';
import { packageVersion } from './version';

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(process.env, packageVersion());
  } catch (err) {
    if (err instanceof ConfigError) {
      // Names the variables only; values (secrets among them) are never printed.
      process.stderr.write(`deckhand-backend: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const logger = new JsonLogger(config.logLevel);
  const app = await createApp(config, logger);
  const shutdown = app.get(ShutdownService);
  await app.listen(config.port, config.host);
  const server = app.getHttpServer() as Server;
  const address = server.address() as { port: number } | null;
  logger.event('log', 'listening', { port: address?.port ?? config.port, version: config.version }, 'Bootstrap');

  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.event('log', 'shutdown requested: refusing new streams, draining', { signal, inFlight: shutdown.inFlight }, 'Shutdown');
    const result = await shutdown.drain(config.shutdownGraceMs);
    logger.event('log', 'drained', { ...result }, 'Shutdown');
    await app.close();
    logger.event('log', 'stopped', {}, 'Shutdown');
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, (sig) => void stop(sig));
  }
}

bootstrap().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'fatal', msg: 'startup failed', error: message })}\n`);
  process.exit(1);
});
