import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { bearerToken, secretsEqual } from './tokens';

/** Requires `Authorization: Bearer <API_ACCESS_TOKEN>`; anything else is a 401 JSON error. */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined && secretsEqual(token, this.config.apiAccessToken)) return true;
    http.getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="deckhand"');
    throw new UnauthorizedException(
      token === undefined ? 'Missing bearer token: send "Authorization: Bearer <token>"' : 'Invalid access token',
    );
  }
}
