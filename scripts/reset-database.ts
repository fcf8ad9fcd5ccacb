/** `make reset`: re-create the dev database from the history. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeTarget, openConnection } from '../src/db.ts';
import { err, out, printDeployEvents, runCommand, target } from '../src/cli.ts';
import { deploy } from '../src/runtime/deploy.ts';
import { readHistory } from '../src/runtime/history.ts';
import { assertResetAllowed, dropEverything } from '../src/runtime/reset.ts';
import { lockTimeoutMs } from '../src/env.ts';

await runCommand(
  {
    summary: 'DESTRUCTIVE: re-create the development database (drop everything, apply every migration). SQLite: the file is deleted. PostgreSQL: refused unless --confirm, and always when NODE_ENV=production.',
    usage: 'reset-database [--confirm]',
    options: { confirm: { type: 'boolean' } },
    optionHelp: ['--confirm  required on PostgreSQL: drop the whole schema of DATABASE_URL'],
    env: ['DATABASE_URL  the database to re-create (default file:./data/rastar.db)', 'NODE_ENV  "production" refuses any reset'],
    examples: ['make reset', 'make reset CONFIRM=1   # PostgreSQL'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    assertResetAllowed(t, Boolean(values.confirm));
    err(`Resetting ${describeTarget(t)}…`);
    await dropEverything(t);
    const conn = await openConnection(t, { applicationName: 'rastar-reset' });
    try {
      await deploy(conn, readHistory(t.provider), { lockTimeoutMs: lockTimeoutMs(), onEvent: printDeployEvents() });
    } finally {
      await conn.close();
    }
    out('Database re-created. Seed it with: make seed');
    return 0;
  },
);
