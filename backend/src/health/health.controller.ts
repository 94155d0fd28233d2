import { Controller, Get, Inject } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

export interface Health {
  status: 'ok';
  version: string;
}

/** GET /api/health — the ALB target group's health check; no auth, no rate limit. */
@Controller('health')
export class HealthController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  health(): Health {
    return { status: 'ok', version: this.config.version };
  }
}
