/** `make backup`: write a backup of DATABASE_URL into BACKUP_DIR. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeTarget, openConnection } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { KitError } from '../src/errors.ts';
import { assertWritableDir, backupDatabase, backupDir } from '../src/runtime/backup.ts';
import { displayPath, readHistory } from '../src/runtime/history.ts';
import { readStatus } from '../src/runtime/status.ts';
import { fs } from '../src/node-builtins.ts';

const { existsSync } = fs;

await runCommand(
  {
    summary: 'Back up the database (PostgreSQL: pg_dump custom format; SQLite: online backup API) into BACKUP_DIR, named after the last applied migration and the time.',
    usage: 'backup [--if-pending]',
    options: { 'if-pending': { type: 'boolean' } },
    optionHelp: ['--if-pending  only when migrations are pending (what the entrypoint runs with BACKUP_BEFORE_MIGRATE=true)'],
    env: ['DATABASE_URL  the database to back up', 'BACKUP_DIR  where backups go (default ./backups); must be writable'],
    examples: ['make backup', 'BACKUP_DIR=/backups node dist/scripts/backup.js --if-pending'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    const dir = backupDir();
    assertWritableDir(dir);
    if (t.provider === 'sqlite' && !existsSync(t.file)) {
      // Nothing to lose yet (a first start): with --if-pending that is no reason to stop the deploy.
      if (values['if-pending']) {
        out(`No database yet (${t.file}): no backup needed.`);
        return 0;
      }
      throw new KitError('IO', `Nothing to back up: ${describeTarget(t)} does not exist`);
    }
    const history = readHistory(t.provider, undefined, { lazyScripts: true });
    const conn = await openConnection(t, { applicationName: 'rastar-backup', readonly: true });
    const status = await readStatus(conn, history).finally(() => conn.close());
    if (values['if-pending'] && status.pending.length === 0) {
      out('No pending migrations: no backup needed.');
      return 0;
    }
    err(`Backing up ${describeTarget(t)}…`);
    const file = await backupDatabase(t, dir, status.applied.at(-1) ?? 'empty');
    out(`✓ Backup written: ${displayPath(file)}`);
    return 0;
  },
);
