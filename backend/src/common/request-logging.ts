import type { NextFunction, Request, Response } from 'express';
import { JsonLogger } from './json-logger';
import { requestIdFrom } from './request-id';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by requestLogging() for every request. */
    requestId?: string;
  }
}

/**
 * Express middleware: assigns the request id (echoed as `x-request-id`) and writes one JSON
 * log line when the response finishes or the client goes away. Headers and bodies are never
 * logged (they carry the bearer token and the conversation).
 */
export function requestLogging(logger: JsonLogger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    req.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const durationMs = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      const status = res.statusCode;
      logger.event(
        status >= 500 ? 'error' : status >= 400 ? 'warn' : 'log',
        'request',
        {
          requestId,
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status,
          durationMs,
          ip: req.ip,
          aborted: !res.writableFinished,
        },
        'HTTP',
      );
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
