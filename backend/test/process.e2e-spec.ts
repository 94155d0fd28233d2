import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  ACCESS_TOKEN,
  BACKEND_DIR,
  FAKE_API_KEY,
  FakeAnthropic,
  openChat,
  parseSse,
  REPLY_PREFIX,
  replyText,
  startFake,
  stopChild,
} from './support';

const MAIN = path.join(BACKEND_DIR, 'dist', 'main.js');
const SECRET_KEY = 'test-claude-key-must-never-be-logged';
const SECRET_TOKEN = 'very-secret-access-token-value';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs dist/main.js with exactly `env` (plus PATH) until it exits. */
function runToExit(env: Record<string, string>, timeoutMs = 10000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: BACKEND_DIR });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dist/main.js did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Server {
  child: ChildProcess;
  url: string;
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts dist/main.js on a free port and waits for its "listening" log line. */
async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    cwd: BACKEND_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'listening') resolve(`http://127.0.0.1:${String(entry.port)}`);
    });
    void exited.then(({ code }) => reject(new Error(`server exited early with ${code}`)));
  });
  return { child, url, logs, exited };
}

describe('startup configuration', () => {
  it('exits non-zero naming a missing CLAUDE_API_KEY, without printing secrets', async () => {
    const run = await runToExit({ API_ACCESS_TOKEN: SECRET_TOKEN });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('CLAUDE_API_KEY is required');
    expect(run.stderr).not.toContain('API_ACCESS_TOKEN');
    expect(run.stdout + run.stderr).not.toContain(SECRET_TOKEN);
  });

  it('exits non-zero naming a missing API_ACCESS_TOKEN, without printing secrets', async () => {
    const run = await runToExit({ CLAUDE_API_KEY: SECRET_KEY, PORT: '3000' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('API_ACCESS_TOKEN is required');
    expect(run.stdout + run.stderr).not.toContain(SECRET_KEY);
  });

  it('exits non-zero naming an invalid PORT', async () => {
    const run = await runToExit({ CLAUDE_API_KEY: SECRET_KEY, API_ACCESS_TOKEN: SECRET_TOKEN, PORT: 'http' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PORT must be an integer/);
    expect(run.stdout + run.stderr).not.toContain(SECRET_KEY);
    expect(run.stdout + run.stderr).not.toContain(SECRET_TOKEN);
  });
});

describe('graceful shutdown of the built server', () => {
  let fake: FakeAnthropic;

  beforeAll(async () => {
    fake = await startFake();
  });
  afterAll(async () => {
    await fake?.close();
  });

  const env = () => ({ CLAUDE_API_KEY: FAKE_API_KEY, API_ACCESS_TOKEN: ACCESS_TOKEN, ANTHROPIC_BASE_URL: fake.url });

  it('finishes an in-flight stream after SIGTERM, refuses new chats with 503, then exits 0', async () => {
    const server = await startServer(env());
    try {
      const stream = await openChat(server.url, [{ role: 'user', content: 'SLOW_STREAM keep going' }]);
      expect(stream.status).toBe(200);
      await stream.waitFor((body) => body.includes('event: delta'));
      server.child.kill('SIGTERM');
      // wait until the server is draining, then try a new chat
      const deadline = Date.now() + 3000;
      while (!server.logs.some((e) => e.context === 'Shutdown') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const refused = await fetch(`${server.url}/api/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ACCESS_TOKEN}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'too late' }] }),
      });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ statusCode: 503 });
      const health = await fetch(`${server.url}/api/health`);
      expect(health.status).toBe(200);

      const events = parseSse(await stream.done);
      expect(replyText(events)).toBe(`${REPLY_PREFIX}SLOW_STREAM keep going`);
      expect(events[events.length - 1].event).toBe('done');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.logs.find((e) => e.msg === 'drained')).toMatchObject({ completed: 1, aborted: 0 });
    } finally {
      await stopChild(server.child);
    }
  });

  it('cuts off streams still open when the grace period runs out, with an error event', async () => {
    const server = await startServer({ ...env(), SHUTDOWN_GRACE_MS: '400' });
    try {
      const stream = await openChat(server.url, [{ role: 'user', content: 'SLOW_STREAM this is a long reply' }]);
      await stream.waitFor((body) => body.includes('event: delta'));
      const started = Date.now();
      server.child.kill('SIGTERM');
      const events = parseSse(await stream.done);
      const last = events[events.length - 1];
      expect(last).toMatchObject({ event: 'error', data: { type: 'shutting_down' } });
      expect(events.some((e) => e.event === 'done')).toBe(false);
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(server.logs.find((e) => e.msg === 'drained')).toMatchObject({ completed: 0, aborted: 1 });
    } finally {
      await stopChild(server.child);
    }
  });

  it('logs one JSON line per request and never the secrets', async () => {
    const server = await startServer(env());
    try {
      await fetch(`${server.url}/api/health`, { headers: { 'x-request-id': 'proc-req-1' } });
      const reply = await openChat(server.url, [{ role: 'user', content: 'hello' }]);
      await reply.done;
      server.child.kill('SIGTERM');
      await server.exited;
      expect(server.logs.find((e) => e.requestId === 'proc-req-1')).toMatchObject({ msg: 'request', status: 200, path: '/api/health' });
      const text = JSON.stringify(server.logs);
      expect(text).not.toContain(ACCESS_TOKEN);
      expect(text).not.toContain(FAKE_API_KEY);
    } finally {
      await stopChild(server.child);
    }
  });
});
