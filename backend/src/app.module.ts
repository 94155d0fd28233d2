import { DynamicModule, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { ChatController } from './chat/chat.controller';
import { ChatService } from './chat/chat.service';
import { anthropicProvider } from './chat/anthropic.provider';
import { JsonLogger } from './common/json-logger';
import { ShutdownService } from './common/shutdown.service';
import type { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { HealthController } from './health/health.controller';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: JsonLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', ttl: config.rateLimit.ttlMs, limit: config.rateLimit.limit }],
          errorMessage: 'Too many requests: slow down and retry after the number of seconds in Retry-After',
        }),
      ],
      controllers: [HealthController, ChatController],
      providers: [{ provide: JsonLogger, useValue: logger }, ShutdownService, ChatService, anthropicProvider],
    };
  }
}
