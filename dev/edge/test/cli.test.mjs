import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from './helpers.mjs';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs');
const HERE = path.dirname(fileURLToPath(import.meta.url));

describe('server.mjs command line', () => {
  const bad = [
    [['--dir', HERE], /--port must be a port number/],
    [['--port', '0'], /give exactly one of --dir DIR or --bucket NAME/],
    [['--port', '0', '--dir', '/nonexistent/dist'], /--dir \/nonexistent\/dist: no such directory/],
    [['--port', 'x', '--dir', HERE], /--port must be a port number .* got 'x'/],
    [['--port', '0', '--dir', HERE, '--api', 'not a url'], /--api not a url: not a URL/],
    [['--port', '0', '--dir', HERE, '--nope'], /Unknown option '--nope'/],
  ];
  for (const [args, message] of bad) {
    it(`exits 2 on ${args.join(' ')}`, () => {
      const run = spawnSync(process.execPath, [SERVER, ...args], { encoding: 'utf8', env: { ...process.env, AWS_ENDPOINT_URL: '' } });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, message);
    });
  }

  it('starts, prints its URL and serves', async () => {
    const child = spawn(process.execPath, [SERVER, '--port', '0', '--dir', HERE, '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (c) => {
          out += c;
          const m = /edge listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const res = await request(url, '/_deckhand/x');
      assert.equal(res.status, 404);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
