import Anthropic from '@anthropic-ai/sdk';
import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { JsonLogger } from '../common/json-logger';
import { ShutdownService } from '../common/shutdown.service';
import { ANTHROPIC_CLIENT } from './anthropic.provider';
import type { ChatRequest } from './chat-request';
import { ChatEvent, formatSse, SSE_KEEPALIVE, startEventStream } from './sse';
import { describeUpstreamError } from './upstream-error';

/** Streams one Claude reply to the client as Server-Sent Events. */
@Injectable()
export class ChatService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ANTHROPIC_CLIENT) private readonly client: Anthropic,
    private readonly shutdown: ShutdownService,
    private readonly logger: JsonLogger,
  ) {}

  async stream(chat: ChatRequest, req: Request, res: Response): Promise<void> {
    const requestId = req.requestId ?? 'unknown';
    const upstream = new AbortController();
    let shutdownReason: string | undefined;
    let clientGone = false;
    const untrack = this.shutdown.track({
      abort: (reason) => {
        shutdownReason = reason;
        upstream.abort();
      },
    });
    const onClose = (): void => {
      if (!res.writableEnded) {
        clientGone = true;
        upstream.abort();
      }
    };
    res.on('close', onClose);
    let heartbeat: NodeJS.Timeout | undefined;
    const send = (event: ChatEvent): void => {
      if (!res.writableEnded && !res.destroyed) res.write(formatSse(event));
    };

    try {
      const { model, maxTokens, systemPrompt } = this.config.anthropic;
      let events: AsyncIterable<Anthropic.MessageStreamEvent>;
      try {
        events = await this.client.messages.create(
          {
            model,
            max_tokens: maxTokens,
            messages: chat.messages,
            ...(systemPrompt ? { system: systemPrompt } : {}),
            stream: true,
          },
          { signal: upstream.signal },
        );
      } catch (err) {
        // Nothing has been sent yet: answer with a plain JSON error.
        if (clientGone) return;
        if (shutdownReason) {
          res.status(503).setHeader('Connection', 'close');
          res.json({ statusCode: 503, error: 'Service Unavailable', message: shutdownReason });
          return;
        }
        const failure = describeUpstreamError(err);
        this.logger.event('error', 'upstream request failed', { requestId, type: failure.type, detail: failure.detail }, 'Chat');
        res.status(502).json({ statusCode: 502, error: 'Bad Gateway', message: failure.message, type: failure.type });
        return;
      }

      startEventStream(res);
      heartbeat = setInterval(() => {
        if (!res.writableEnded && !res.destroyed) res.write(SSE_KEEPALIVE);
      }, this.config.sseHeartbeatMs);
      let stopReason: string | null = null;
      let inputTokens = 0;
      let outputTokens = 0;
      try {
        for await (const event of events) {
          switch (event.type) {
            case 'message_start':
              inputTokens = event.message.usage.input_tokens;
              outputTokens = event.message.usage.output_tokens;
              break;
            case 'content_block_delta':
              if (event.delta.type === 'text_delta' && event.delta.text !== '') {
                send({ event: 'delta', data: { text: event.delta.text } });
              }
              break;
            case 'message_delta':
              stopReason = event.delta.stop_reason;
              outputTokens = event.usage.output_tokens;
              break;
            default:
              break;
          }
        }
        // The SDK ends the iteration quietly when its request is aborted: that is not a reply.
        if (!upstream.signal.aborted) {
          send({ event: 'done', data: { stopReason, usage: { inputTokens, outputTokens }, requestId } });
          return;
        }
        this.endAborted(clientGone, shutdownReason, requestId, send);
      } catch (err) {
        if (upstream.signal.aborted) {
          this.endAborted(clientGone, shutdownReason, requestId, send);
          return;
        }
        const failure = describeUpstreamError(err);
        this.logger.event('error', 'upstream stream failed', { requestId, type: failure.type, detail: failure.detail }, 'Chat');
        send({ event: 'error', data: { message: failure.message, type: failure.type, requestId } });
      }
    } finally {
      clearInterval(heartbeat);
      res.off('close', onClose);
      if (!res.writableEnded) res.end();
      untrack();
    }
  }

  private endAborted(
    clientGone: boolean,
    shutdownReason: string | undefined,
    requestId: string,
    send: (event: ChatEvent) => void,
  ): void {
    if (clientGone) {
      this.logger.event('log', 'client disconnected mid-stream; upstream request aborted', { requestId }, 'Chat');
    } else {
      send({ event: 'error', data: { message: shutdownReason ?? 'The reply was cancelled.', type: 'shutting_down', requestId } });
    }
  }
}
