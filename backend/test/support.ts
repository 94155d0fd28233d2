import { ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { AppConfig } from '../src/config/config';
import { loadConfig } from '../src/config/config';
import { JsonLogger } from '../src/common/json-logger';

export const BACKEND_DIR = path.join(__dirname, '..');
export const FAKE_SCRIPT = path.join(__dirname, 'fake-anthropic.mjs');
export const FAKE_API_KEY = 'test-claude-key';
export const ACCESS_TOKEN = 'e2e-access-token-0123456789';
export const REPLY_PREFIX = 'Hello from the fake Claude. You said: ';

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Parses an SSE body into events (comments dropped); data is JSON-decoded. */
export function parseSse(body: string): SseEvent[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.trim() !== '' && !frame.startsWith(':'))
    .map((frame) => {
      const lines = frame.split('\n').filter((l) => !l.startsWith(':'));
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data: JSON.parse(data) as unknown };
    });
}

/** Concatenated text of the delta events. */
export function replyText(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === 'delta')
    .map((e) => (e.data as { text: string }).text)
    .join('');
}

export interface FakeAnthropic {
  url: string;
  requests(): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

/** Starts the fake Anthropic API as its own process (as the frontend's e2e does). */
export async function startFake(): Promise<FakeAnthropic> {
  const child = spawn(process.execPath, [FAKE_SCRIPT, '--port', '0', '--api-key', FAKE_API_KEY], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected fake-anthropic output: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`fake-anthropic exited with ${code}`)));
  });
  return {
    url,
    requests: async () => (await (await fetch(`${url}/_fake/requests`)).json()) as Array<Record<string, unknown>>,
    close: () => stopChild(child),
  };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A config as the server would load it, pointed at the fake. */
export function testConfig(fakeUrl: string, env: Record<string, string> = {}): AppConfig {
  return loadConfig(
    {
      CLAUDE_API_KEY: FAKE_API_KEY,
      API_ACCESS_TOKEN: ACCESS_TOKEN,
      ANTHROPIC_BASE_URL: fakeUrl,
      ANTHROPIC_MAX_RETRIES: '0',
      ...env,
    },
    '9.9.9-test',
  );
}

/** A logger that keeps its lines for assertions instead of printing them. */
export function memoryLogger(): { logger: JsonLogger; entries: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  return {
    logger: new JsonLogger('log', (line) => lines.push(line)),
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface StreamHandle {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Resolves with the body so far once `predicate` holds for it. */
  waitFor(predicate: (body: string) => boolean): Promise<string>;
  /** Resolves with the whole body when the response ends. */
  done: Promise<string>;
  destroy(): void;
}

/** POSTs a chat request with node:http and exposes the body as it streams in. */
export function openChat(baseUrl: string, messages: unknown, token = ACCESS_TOKEN): Promise<StreamHandle> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify({ messages });
    const req = http.request(`${baseUrl}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      const waiters: Array<{ predicate: (b: string) => boolean; resolve: (b: string) => void }> = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        for (const w of [...waiters]) {
          if (w.predicate(body)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(body);
          }
        }
      });
      const done = new Promise<string>((resolveDone, rejectDone) => {
        res.on('end', () => resolveDone(body));
        res.on('error', rejectDone);
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        waitFor: (predicate) =>
          predicate(body) ? Promise.resolve(body) : new Promise((r) => waiters.push({ predicate, resolve: r })),
        done,
        destroy: () => {
          done.catch(() => undefined);
          req.destroy();
        },
      });
    });
    req.end(payload);
  });
}
