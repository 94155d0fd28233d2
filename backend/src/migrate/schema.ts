import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The reference backend's storage schema, kept in DATA_DIR: `schema.json` says which migrations ran.
 * `node dist/migrate.js` (deckhand's `backend.pre-deploy` runs it from the new revision before the
 * rollout) applies the missing ones in order, each recorded as soon as it is done, so a rerun — or a
 * run after one killed half way — does only what is left. Migrations must stay backwards compatible:
 * the old revision keeps serving until traffic moves, and a rollback never runs them.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Idempotent: may find its own work done by a run that died before recording it. */
  up(dir: string): void;
}

export interface SchemaFile {
  version: number;
  applied: { version: number; name: string; at: string }[];
}

export const SCHEMA_FILE = 'schema.json';
export const LOCK_FILE = '.migrate.lock';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'conversations store',
    up: (dir) => mkdirSync(join(dir, 'conversations'), { recursive: true }),
  },
  {
    version: 2,
    name: 'conversations index',
    up: (dir) => {
      const index = join(dir, 'conversations', 'index.json');
      try {
        JSON.parse(readFileSync(index, 'utf8'));
      } catch {
        atomicWrite(index, '[]\n');
      }
    },
  },
];

/** A migration that cannot go on: the message names the directory or file and what is wrong. */
export class MigrationError extends Error {}

export interface Outcome {
  from: number;
  to: number;
  applied: string[];
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function readSchema(dir: string): SchemaFile {
  const path = join(dir, SCHEMA_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 0, applied: [] };
    throw new MigrationError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MigrationError(`${path} is not JSON: refusing to migrate over it`);
  }
  const s = parsed as SchemaFile;
  if (!s || typeof s !== 'object' || !Number.isInteger(s.version) || s.version < 0 || !Array.isArray(s.applied)) {
    throw new MigrationError(`${path} has no integer "version" and "applied" list: refusing to migrate over it`);
  }
  return s;
}

/** Apply the missing migrations to dir under an exclusive lock; what ran. */
export function migrate(dir: string, migrations: readonly Migration[] = MIGRATIONS, now: () => Date = () => new Date()): Outcome {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new MigrationError(`cannot create DATA_DIR ${dir}: ${(err as Error).message}`);
  }
  const lock = join(dir, LOCK_FILE);
  let fd: number;
  try {
    fd = openSync(lock, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MigrationError(`${lock} exists: another migration is running (or one died: remove the file once none runs)`);
    }
    throw new MigrationError(`cannot lock ${dir}: ${(err as Error).message}`);
  }
  try {
    writeFileSync(fd, `${process.pid}\n`);
    const schema = readSchema(dir);
    const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
    if (schema.version > latest) {
      throw new MigrationError(
        `${join(dir, SCHEMA_FILE)} is at version ${schema.version}, newer than this build knows (${latest}): a newer revision migrated it; refusing to touch it`,
      );
    }
    const from = schema.version;
    const applied: string[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (m.version <= schema.version) continue;
      try {
        m.up(dir);
      } catch (err) {
        throw new MigrationError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      schema.version = m.version;
      schema.applied.push({ version: m.version, name: m.name, at: now().toISOString() });
      atomicWrite(join(dir, SCHEMA_FILE), `${JSON.stringify(schema, null, 2)}\n`);
      applied.push(`${m.version} ${m.name}`);
    }
    return { from, to: schema.version, applied };
  } finally {
    closeSync(fd);
    unlinkSync(lock);
  }
}
