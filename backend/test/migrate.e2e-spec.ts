import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BACKEND_DIR } from './support';

// dist/migrate.js as deckhand's backend.pre-deploy runs it (`node dist/migrate.js` in the image): the
// exit code gates the rollout, so each outcome is checked on the built script.
const MIGRATE = path.join(BACKEND_DIR, 'dist', 'migrate.js');

function run(env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MIGRATE], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('node dist/migrate.js', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'migrate-e2e-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates (exit 0), then finds nothing to do (exit 0), logging JSON lines', () => {
    const data = path.join(dir, 'data');
    const first = run({ DATA_DIR: data });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ level: 'info', msg: 'migrated', from: 0, to: 2 });
    const second = run({ DATA_DIR: data });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ msg: 'schema up to date: nothing to do', from: 2, to: 2, applied: [] });
    expect((JSON.parse(readFileSync(path.join(data, 'schema.json'), 'utf8')) as { version: number }).version).toBe(2);
  });

  it('exits 1 on a schema newer than the build, 1 when DATA_DIR cannot be created, 2 without DATA_DIR', () => {
    writeFileSync(path.join(dir, 'schema.json'), JSON.stringify({ version: 99, applied: [] }));
    const newer = run({ DATA_DIR: dir });
    expect(newer.code).toBe(1);
    expect(JSON.parse(newer.stderr)).toMatchObject({ level: 'error', msg: 'migration failed' });
    expect(newer.stderr).toMatch(/version 99, newer than this build knows/);
    // a DATA_DIR that cannot be created (under a regular file: fails for root too)
    writeFileSync(path.join(dir, 'a-file'), 'x');
    const blocked = run({ DATA_DIR: path.join(dir, 'a-file', 'data') });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/cannot create DATA_DIR .*a-file\/data/);
    const unset = run({});
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/DATA_DIR is not set/);
  });
});
