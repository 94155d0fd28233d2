import Anthropic from '@anthropic-ai/sdk';
import type { Provider } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';

/** Injection token of the Anthropic client. */
export const ANTHROPIC_CLIENT = Symbol('ANTHROPIC_CLIENT');

export const anthropicProvider: Provider = {
  provide: ANTHROPIC_CLIENT,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig): Anthropic =>
    new Anthropic({
      // Passed explicitly so no ambient ANTHROPIC_* credential variable is picked up instead.
      apiKey: config.claudeApiKey,
      baseURL: config.anthropic.baseUrl ?? 'https://api.anthropic.com',
      maxRetries: config.anthropic.maxRetries,
      timeout: config.anthropic.timeoutMs,
    }),
};
