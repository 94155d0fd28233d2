import { CanActivate, ExecutionContext, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Response } from 'express';
import { ShutdownService } from '../common/shutdown.service';

/** Refuses new chat streams with 503 once the process is draining for shutdown. */
@Injectable()
export class AcceptingStreamsGuard implements CanActivate {
  constructor(private readonly shutdown: ShutdownService) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.shutdown.draining) return true;
    const res = context.switchToHttp().getResponse<Response>();
    res.setHeader('Connection', 'close');
    res.setHeader('Retry-After', '1');
    throw new ServiceUnavailableException('The server is shutting down; retry the request');
  }
}
