// Browser end-to-end: Debian chromium (playwright-core) -> dev/edge (the real infra/functions/spa-router.js,
// frontend/dist as the S3 origin) -> the real NestJS backend (backend/dist/main.js) -> the fake Anthropic API.
//
// Needs: frontend/dist (npm run build in frontend), backend/dist/main.js (npm run build in backend),
// npm ci in dev/edge and dev/e2e, /usr/bin/chromium. dev/ci/stages/40-frontend.sh does all of it.
// Saves a screenshot of the chat page to $DECKHAND_ARTIFACTS/chat.png (default target/artifacts/).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createEdgeServer } from '../edge/server.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = path.join(REPO, 'frontend/dist');
const BACKEND_MAIN = path.join(REPO, 'backend/dist/main.js');
const FAKE = path.join(REPO, 'backend/test/fake-anthropic.mjs');
const ARTIFACTS = process.env.DECKHAND_ARTIFACTS ?? path.join(REPO, 'target/artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'e2e-access-token';
const REPLY_PREFIX = 'Hello from the fake Claude. You said: ';

const children = [];
let edge;
let base;
let browser;
let page;
let fakeUrl;

function requireFile(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${path.relative(REPO, file)} is missing: ${hint}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns a process; resolves once `ready` matches its stdout. Output is kept for error messages. */
function start(name, args, { env = {}, ready }) {
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in 20 s:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

async function waitForHealth(url) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  requireFile(DIST + '/index.html', 'run `npm run build` in frontend/');
  requireFile(BACKEND_MAIN, 'run `npm run build` in backend/');
  requireFile(CHROMIUM, 'install Debian chromium (apt-get install chromium)');

  [, fakeUrl] = await start('fake-anthropic', [FAKE, '--port', '0'], { ready: /listening on (http:\/\/\S+)/ });
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const backend = start('backend', [BACKEND_MAIN], {
    env: {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      CLAUDE_API_KEY: 'test-claude-key',
      API_ACCESS_TOKEN: TOKEN,
      ANTHROPIC_BASE_URL: fakeUrl,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MAX: '10',
      RATE_LIMIT_TTL_MS: '60000',
    },
    ready: /listening/,
  });
  backend.catch(() => {}); // readiness is decided by /api/health below; exit errors surface there
  await Promise.race([waitForHealth(`${apiUrl}/api/health`), backend.then(() => new Promise(() => {}))]);

  edge = createEdgeServer({ dir: DIST, api: apiUrl });
  base = await new Promise((resolve) => {
    edge.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${edge.address().port}`));
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  if (edge) {
    edge.closeAllConnections();
    await new Promise((r) => edge.close(r));
  }
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
});

const chatHeading = () => page.getByRole('heading', { level: 1, name: 'Chat' });
const tokenInput = () => page.getByLabel('Access token', { exact: true });
const messageBox = () => page.getByLabel('Message', { exact: true });
const replies = () => page.locator('li.message.assistant .text');

describe('the SPA through the local edge, in Chromium', () => {
  it('a direct visit to /chat renders the chat page (the original 403 bug)', async () => {
    const response = await page.goto(`${base}/chat`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/html/);
    await chatHeading().waitFor();
    await tokenInput().waitFor();
    assert.equal(new URL(page.url()).pathname, '/chat', 'a rewrite, not a redirect');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-token.png') });
  });

  it('a reload of /chat still renders the chat page', async () => {
    const response = await page.reload();
    assert.equal(response.status(), 200);
    await chatHeading().waitFor();
    assert.equal(new URL(page.url()).pathname, '/chat');
  });

  it('a wrong token is rejected and the token is asked for again', async () => {
    await tokenInput().fill('not-the-token');
    await tokenInput().press('Enter');
    await messageBox().fill('Hello edge');
    await messageBox().press('Enter');
    await page.getByRole('alert').filter({ hasText: 'The access token was rejected. Enter it again.' }).waitFor();
    await tokenInput().waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('deckhand.accessToken')), null);
  });

  it('with the right token the message is sent and the reply streams in', async () => {
    await tokenInput().fill(TOKEN);
    await tokenInput().press('Enter');
    assert.equal(await messageBox().inputValue(), 'Hello edge', 'the unsent message was kept');
    await messageBox().fill('SLOW_STREAM tell me about deckhand');
    await messageBox().press('Enter');
    const full = `${REPLY_PREFIX}SLOW_STREAM tell me about deckhand`;
    // Mid-stream: some text is shown while the reply is still being written.
    await page.getByLabel('Claude is replying').waitFor();
    await page.waitForFunction(() => {
      const el = document.querySelector('li.message.assistant .text');
      return el !== null && el.textContent.replace('▍', '').length > 0;
    });
    const partial = (await replies().last().textContent()).replace('▍', '');
    assert.ok(full.startsWith(partial) && partial.length < full.length, `partial reply: ${JSON.stringify(partial)}`);
    // Then the whole reply.
    await page.getByLabel('Claude is replying').waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await replies().last().textContent(), full);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('deckhand.accessToken')), TOKEN);
  });

  it('a second message carries the conversation, and the page is screenshotted', async () => {
    await messageBox().fill('And a follow-up');
    await messageBox().press('Enter');
    await page.getByText(`${REPLY_PREFIX}And a follow-up`, { exact: true }).waitFor({ timeout: 15_000 });
    assert.equal(await replies().count(), 2);
    const seen = await (await fetch(`${fakeUrl}/_fake/requests`)).json();
    assert.deepEqual(seen.at(-1).messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(seen.at(-1).messages[1].content, `${REPLY_PREFIX}SLOW_STREAM tell me about deckhand`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat.png'), fullPage: true });
  });

  it("an upstream failure mid-stream is shown inline and keeps the partial reply", async () => {
    await messageBox().fill('FAIL_MIDSTREAM now');
    await messageBox().press('Enter');
    await page.getByRole('alert').filter({ hasText: 'The reply was interrupted' }).waitFor({ timeout: 15_000 });
    await page.getByText('Reply incomplete').waitFor();
  });

  it('client-side navigation and the client 404 route work', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: 'Open the chat' }).click();
    await chatHeading().waitFor();
    assert.equal(new URL(page.url()).pathname, '/chat');
    const response = await page.goto(`${base}/no/such/page`);
    assert.equal(response.status(), 200);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  });

  it('/assets/missing.js is a 404, not HTML', async () => {
    const response = await page.goto(`${base}/assets/missing.js`);
    assert.equal(response.status(), 404);
    assert.doesNotMatch(response.headers()['content-type'] ?? '', /text\/html/);
    assert.doesNotMatch(await response.text(), /<div id="root">/);
  });

  it('/api/nope is the API JSON 404, not index.html', async () => {
    const response = await page.goto(`${base}/api/nope`);
    assert.equal(response.status(), 404);
    assert.match(response.headers()['content-type'] ?? '', /^application\/json/);
    assert.equal(JSON.parse(await response.text()).statusCode, 404);
  });

  it('/_deckhand/x is a 404', async () => {
    const response = await page.goto(`${base}/_deckhand/x`);
    assert.equal(response.status(), 404);
    assert.doesNotMatch(await response.text(), /<div id="root">/);
  });

  it('the built assets are served with immutable caching', async () => {
    await page.goto(`${base}/chat`);
    const js = await page.evaluate(() => document.querySelector('script[type="module"]').getAttribute('src'));
    assert.match(js, /^\/assets\/index-[\w-]+\.js$/);
    const res = await fetch(base + js);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });

  it('a 429 from the rate limiter is shown inline with its Retry-After, and the message is kept', async () => {
    await page.goto(`${base}/chat`);
    await messageBox().waitFor();
    // Use up the per-client budget (the limiter counts before the token check).
    const statuses = await page.evaluate(async () => {
      const seen = [];
      for (let i = 0; i < 12 && !seen.includes(429); i++) {
        const res = await fetch('/api/chat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
        seen.push(res.status);
      }
      return seen;
    });
    assert.equal(statuses.at(-1), 429, `statuses: ${statuses.join(',')}`);
    await messageBox().fill('Am I throttled?');
    await messageBox().press('Enter');
    await page.getByRole('alert').filter({ hasText: /Too many requests\. Try again in \d+ seconds?\./ }).waitFor();
    assert.equal(await messageBox().inputValue(), 'Am I throttled?');
    await tokenInput().waitFor({ state: 'detached' });
  });
});
