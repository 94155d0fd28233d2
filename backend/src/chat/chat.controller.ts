import { Body, Controller, HttpCode, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { AcceptingStreamsGuard } from './accepting-streams.guard';
import type { ChatRequest } from './chat-request';
import { ChatRequestPipe } from './chat-request';
import { ChatService } from './chat.service';

@Controller('chat')
// Order matters: refuse while draining, then count the request against the client's rate
// limit (unauthenticated attempts included), then check the token.
@UseGuards(AcceptingStreamsGuard, ThrottlerGuard, BearerAuthGuard)
export class ChatController {
  constructor(private readonly chat: ChatService) {}

  /** POST /api/chat — streams the reply as Server-Sent Events (see README.md). */
  @Post()
  @HttpCode(200)
  async create(
    @Body(ChatRequestPipe) body: ChatRequest,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.chat.stream(body, req, res);
  }
}
