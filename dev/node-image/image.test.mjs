// Builds backend/Dockerfile on the local Node base image (dev/node-image/build-backend) and
// inspects the result with buildah: config (user, port, command, env), filesystem (built app,
// production dependencies only, non-root user, read-only code) and, through `buildah run` with
// chroot isolation (no container runtime needed), that the server starts as that user and answers.
//   node --test dev/node-image/image.test.mjs
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const here = new URL('.', import.meta.url).pathname;
const TAG = process.env.DECKHAND_BACKEND_TEST_IMAGE ?? 'localhost/deckhand-backend:test';
const env = { ...process.env, STORAGE_DRIVER: process.env.STORAGE_DRIVER ?? 'vfs', BUILDAH_ISOLATION: 'chroot' };
const buildah = (...args) => execFileSync('buildah', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();

describe(`backend image ${TAG}`, () => {
  let config;
  let history;
  let ctr;
  let root;

  before(() => {
    const started = Date.now();
    execFileSync(join(here, 'build-backend'), [TAG], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    console.log(`# image build took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const inspect = JSON.parse(buildah('inspect', '--type', 'image', TAG));
    config = inspect.OCIv1.config;
    history = inspect.OCIv1.history ?? [];
    ctr = buildah('from', '--quiet', '--pull-never', TAG);
    root = buildah('mount', ctr);
  });

  after(() => {
    if (ctr) {
      spawnSync('buildah', ['umount', ctr], { env });
      spawnSync('buildah', ['rm', ctr], { env });
    }
  });

  it('runs as the non-root node user, exposes 3000 and starts dist/main.js', () => {
    assert.equal(config.User, 'node');
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['3000/tcp']);
    assert.deepEqual(config.Cmd, ['node', 'dist/main.js']);
    assert.equal(config.WorkingDir, '/app');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const entry = passwd.split('\n').find((line) => line.startsWith('node:'));
    assert.ok(entry, '/etc/passwd has a node user');
    assert.notEqual(entry.split(':')[2], '0', 'node is not uid 0');
  });

  it('carries no secrets in its environment or build history', () => {
    const names = (config.Env ?? []).map((e) => e.split('=')[0]);
    assert.ok(names.includes('NODE_ENV'));
    for (const name of names) assert.doesNotMatch(name, /KEY|TOKEN|SECRET|PASSWORD|CLAUDE|ANTHROPIC/i, `env ${name}`);
    assert.ok(history.length > 0);
    for (const step of history) {
      assert.doesNotMatch(step.created_by ?? '', /CLAUDE_API_KEY|API_ACCESS_TOKEN|sk-ant-/, step.created_by);
    }
    assert.equal(existsSync(join(root, 'app/.env')), false);
  });

  it('holds the built app and production dependencies only', () => {
    for (const file of ['app/dist/main.js', 'app/dist/app.factory.js', 'app/package.json', 'app/package-lock.json']) {
      assert.ok(existsSync(join(root, file)), `${file} exists`);
    }
    const pkg = JSON.parse(readFileSync(join(root, 'app/package.json'), 'utf8'));
    for (const dep of Object.keys(pkg.dependencies)) {
      assert.ok(existsSync(join(root, 'app/node_modules', dep, 'package.json')), `dependency ${dep} installed`);
    }
    assert.ok(Object.keys(pkg.devDependencies).length > 5);
    for (const dev of Object.keys(pkg.devDependencies)) {
      assert.equal(existsSync(join(root, 'app/node_modules', dev)), false, `devDependency ${dev} absent`);
    }
    for (const absent of ['app/src', 'app/test', 'app/node_modules/.bin/tsc', 'app/node_modules/.bin/jest']) {
      assert.equal(existsSync(join(root, absent)), false, `${absent} absent`);
    }
  });

  it('keeps the code read-only for the app user', () => {
    for (const file of ['app/dist/main.js', 'app/node_modules/@nestjs/core/package.json']) {
      const st = statSync(join(root, file));
      assert.equal(st.uid, 0, `${file} owned by root`);
      assert.equal(st.mode & 0o022, 0, `${file} not group/world writable`);
    }
  });

  it('starts as the node user and serves /api/health (buildah run, chroot)', () => {
    // Inside the image: spawn the server, query it, stop it with SIGTERM, report.
    const probe = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, HOST: '127.0.0.1', PORT: '0' } });
      let out = '';
      child.stdout.on('data', async (chunk) => {
        out += chunk;
        const line = out.split('\\n').find((l) => l.includes('"msg":"listening"'));
        if (!line || child.probed) return;
        child.probed = true;
        const res = await fetch('http://127.0.0.1:' + JSON.parse(line).port + '/api/health');
        const body = await res.json();
        child.on('exit', (code) => console.log(JSON.stringify({ uid: process.getuid(), status: res.status, body, code })));
        child.kill('SIGTERM');
      });
      setTimeout(() => { console.error('timeout: ' + out); process.exit(1); }, 15000).unref();
    `;
    const res = spawnSync(
      'buildah',
      ['run', '--isolation', 'chroot', '--network', 'host',
        '--env', 'CLAUDE_API_KEY=image-test-key', '--env', 'API_ACCESS_TOKEN=image-test-token', '--env', 'APP_VERSION=image-test',
        ctr, '--', 'node', '-e', probe],
      { env, encoding: 'utf8', timeout: 60000 },
    );
    assert.equal(res.status, 0, `buildah run failed: ${res.stderr}`);
    const result = JSON.parse(res.stdout.trim().split('\n').pop());
    assert.deepEqual(result, { uid: 1000, status: 200, body: { status: 'ok', version: 'image-test' }, code: 0 });
  });

  it('refuses to start without its secrets, naming the variable', () => {
    const res = spawnSync('buildah', ['run', '--isolation', 'chroot', ctr, '--', 'node', 'dist/main.js'], {
      env,
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, /CLAUDE_API_KEY is required/);
  });
});
