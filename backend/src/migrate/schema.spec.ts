import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, MIGRATIONS, type Migration, MigrationError, migrate, readSchema, SCHEMA_FILE } from './schema';

describe('migrate (the storage schema in DATA_DIR)', () => {
  let dir: string;
  const at = () => new Date('2026-12-07T15:00:00Z');
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'migrate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('applies every migration in order on an empty directory, records each, and leaves no lock', () => {
    const out = migrate(dir, MIGRATIONS, at);
    expect(out).toEqual({ from: 0, to: 2, applied: ['1 conversations store', '2 conversations index'] });
    expect(readSchema(dir)).toEqual({
      version: 2,
      applied: [
        { version: 1, name: 'conversations store', at: '2026-12-07T15:00:00.000Z' },
        { version: 2, name: 'conversations index', at: '2026-12-07T15:00:00.000Z' },
      ],
    });
    expect(JSON.parse(readFileSync(join(dir, 'conversations', 'index.json'), 'utf8'))).toEqual([]);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('is idempotent: a second run does nothing and changes no byte', () => {
    migrate(dir, MIGRATIONS, at);
    const before = readFileSync(join(dir, SCHEMA_FILE), 'utf8');
    writeFileSync(join(dir, 'conversations', 'index.json'), '["kept"]\n');
    expect(migrate(dir, MIGRATIONS, () => new Date())).toEqual({ from: 2, to: 2, applied: [] });
    expect(readFileSync(join(dir, SCHEMA_FILE), 'utf8')).toBe(before);
    expect(readFileSync(join(dir, 'conversations', 'index.json'), 'utf8')).toBe('["kept"]\n');
  });

  it('runs only what is left after a run that stopped half way, and a failure keeps what was done', () => {
    const boom: Migration = { version: 3, name: 'boom', up: () => { throw new Error('disk full'); } };
    expect(() => migrate(dir, [...MIGRATIONS, boom], at)).toThrow(new MigrationError('migration 3 (boom) failed: disk full'));
    expect(readSchema(dir).version).toBe(2);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const fixed: Migration = { version: 3, name: 'fixed', up: (d) => writeFileSync(join(d, 'v3'), 'x') };
    expect(migrate(dir, [...MIGRATIONS, fixed], at).applied).toEqual(['3 fixed']);
  });

  it('refuses a schema newer than the build (a rollback image never downgrades it)', () => {
    writeFileSync(join(dir, SCHEMA_FILE), JSON.stringify({ version: 7, applied: [] }));
    expect(() => migrate(dir)).toThrow(/is at version 7, newer than this build knows \(2\)/);
    expect((JSON.parse(readFileSync(join(dir, SCHEMA_FILE), 'utf8')) as { version: number }).version).toBe(7);
  });

  it('refuses a corrupt schema file and a held lock, naming the file', () => {
    writeFileSync(join(dir, SCHEMA_FILE), '{"version": ');
    expect(() => migrate(dir)).toThrow(/schema\.json is not JSON: refusing to migrate over it/);
    writeFileSync(join(dir, SCHEMA_FILE), JSON.stringify({ version: 'two' }));
    expect(() => migrate(dir)).toThrow(/has no integer "version"/);
    rmSync(join(dir, SCHEMA_FILE));
    writeFileSync(join(dir, LOCK_FILE), '123\n');
    expect(() => migrate(dir)).toThrow(/\.migrate\.lock exists: another migration is running/);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
