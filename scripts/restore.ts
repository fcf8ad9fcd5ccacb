/** `make restore FILE=…`: put a backup back. Destructive: needs --confirm. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeTarget } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { KitError } from '../src/errors.ts';
import { restoreDatabase } from '../src/runtime/backup.ts';

await runCommand(
  {
    summary: 'DESTRUCTIVE: replace the database with a backup written by `make backup` (PostgreSQL .dump via pg_restore, SQLite .db). Stop the apps first.',
    usage: 'restore --file <backup> --confirm',
    options: { file: { type: 'string' }, confirm: { type: 'boolean' } },
    optionHelp: ['--file <backup>  the backup to restore', '--confirm        required: the current contents of the database are replaced'],
    env: ['DATABASE_URL  the database to overwrite'],
    examples: ['make restore FILE=backups/20260106070831_add_session_message_to_tool_logs_20261124T221500Z.dump CONFIRM=1'],
  },
  process.argv.slice(2),
  async (values) => {
    const file = values.file as string | undefined;
    if (!file) throw new KitError('BAD_USAGE', 'Name the backup: make restore FILE=backups/<name> CONFIRM=1');
    const t = target();
    if (!values.confirm) {
      throw new KitError('REFUSED', `Refusing to overwrite ${describeTarget(t)} without confirmation.`, { hint: `If that is what you want: make restore FILE=${file} CONFIRM=1` });
    }
    err(`Restoring ${file} into ${describeTarget(t)}…`);
    await restoreDatabase(t, file);
    out('✓ Restored. Check it with: make status');
    return 0;
  },
);
