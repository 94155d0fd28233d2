import { LoggerService } from '@nestjs/common';
import { LOG_LEVELS, LogLevelName } from '../config/config';

type Fields = Record<string, unknown>;

/**
 * Writes one JSON object per line to stdout (the container log driver ships it to CloudWatch).
 * Implements Nest's LoggerService so framework messages share the format.
 */
export class JsonLogger implements LoggerService {
  private readonly threshold: number;

  constructor(
    level: LogLevelName = 'log',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  log(message: unknown, ...optional: unknown[]): void {
    this.emit('log', message, optional);
  }
  error(message: unknown, ...optional: unknown[]): void {
    this.emit('error', message, optional);
  }
  warn(message: unknown, ...optional: unknown[]): void {
    this.emit('warn', message, optional);
  }
  debug(message: unknown, ...optional: unknown[]): void {
    this.emit('debug', message, optional);
  }
  verbose(message: unknown, ...optional: unknown[]): void {
    this.emit('verbose', message, optional);
  }
  fatal(message: unknown, ...optional: unknown[]): void {
    this.emit('fatal', message, optional);
  }

  /** Structured entry: `msg` plus arbitrary fields (request id, status, …). */
  event(level: LogLevelName, msg: string, fields: Fields, context?: string): void {
    if (!this.enabled(level)) return;
    this.print({ level, msg, ...(context ? { context } : {}), ...fields });
  }

  private enabled(level: LogLevelName): boolean {
    return LOG_LEVELS.indexOf(level) <= this.threshold;
  }

  private emit(level: LogLevelName, message: unknown, optional: unknown[]): void {
    if (!this.enabled(level)) return;
    const rest = [...optional];
    // Nest passes the context as the last string argument, and for errors a stack before it.
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const entry: Fields = { level };
    if (message instanceof Error) {
      entry.msg = message.message;
      entry.stack = message.stack;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(entry, message);
    } else {
      entry.msg = String(message);
    }
    if (context) entry.context = context;
    const stack = rest.find((value) => typeof value === 'string');
    if (level === 'error' && typeof stack === 'string') entry.stack = stack;
    this.print(entry);
  }

  private print(entry: Fields): void {
    this.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
}
