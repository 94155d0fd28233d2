// `node dist/migrate.js`: the reference backend's migration step (deckhand's backend.pre-deploy runs
// it as a one-off task from the new revision, and starts the rollout only when it exits 0).
// Exit codes: 0 migrated or nothing to do · 1 a migration failed, the schema is newer than this
// build, or another migration holds the lock · 2 DATA_DIR is not set.
import { MigrationError, migrate } from './migrate/schema';

function log(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

function main(): number {
  const dir = process.env.DATA_DIR;
  if (!dir) {
    process.stderr.write('deckhand-backend migrate: DATA_DIR is not set (the directory that holds schema.json)\n');
    return 2;
  }
  try {
    const out = migrate(dir);
    log({
      level: 'info',
      msg: out.applied.length > 0 ? 'migrated' : 'schema up to date: nothing to do',
      dataDir: dir,
      from: out.from,
      to: out.to,
      applied: out.applied,
    });
    return 0;
  } catch (err) {
    const message = err instanceof MigrationError ? err.message : `unexpected: ${(err as Error).stack ?? String(err)}`;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'migration failed', error: message })}\n`);
    return 1;
  }
}

process.exitCode = main();
