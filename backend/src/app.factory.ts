import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { AppModule } from './app.module';
import { JsonLogger } from './common/json-logger';
import { requestLogging } from './common/request-logging';
import type { AppConfig } from './config/config';

/** Largest accepted request body; larger ones get 413 before any parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/** Body-parser failures as JSON in Nest's error shape (Express would answer with HTML). */
function bodyErrors(err: BodyParserError, _req: Request, res: Response, next: NextFunction): void {
  if (err.type === 'entity.too.large') {
    res.status(413).json({
      statusCode: 413,
      error: 'Payload Too Large',
      message: `Request body exceeds ${MAX_BODY_BYTES} bytes`,
    });
    return;
  }
  if (err.type === 'entity.parse.failed') {
    res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'body must be valid JSON', field: 'body' });
    return;
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    res.status(err.status).json({ statusCode: err.status, error: 'Bad Request', message: err.message });
    return;
  }
  next(err);
}

/**
 * Creates the configured (not yet listening) application. Used by main.ts and by the e2e tests,
 * so both run exactly the same middleware stack.
 */
export async function createApp(config: AppConfig, logger = new JsonLogger(config.logLevel)): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), {
    logger,
    bodyParser: false,
  });
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.use(requestLogging(logger));
  app.use(helmet());
  app.useBodyParser('json', { limit: MAX_BODY_BYTES });
  app.use(bodyErrors);
  app.setGlobalPrefix('api');
  return app;
}
