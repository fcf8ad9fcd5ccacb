/**
 * `migrate <command>`: deploy, status, resolve, wait, create. Thin: parse arguments,
 * call src/migrations, print, exit with the documented code.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, describeTarget, maskUrl, openConnection } from '../src/db.ts';
import { err, formatMs, out, printDeployEvents, runCommand, target, type CommandSpec, type Options } from '../src/cli.ts';
import { KitError } from '../src/errors.ts';
import { deploy } from '../src/runtime/deploy.ts';
import { assertDeployable, assertLockfile, displayPath, readHistory } from '../src/runtime/history.ts';
import { baselineNeeded, recoveryHint } from '../src/runtime/recovery.ts';
import { userTables } from '../src/runtime/table.ts';
import { readStatus, type MigrationStatus } from '../src/runtime/status.ts';
import { lockTimeoutMs } from '../src/env.ts';

const DB_ENV = ['DATABASE_URL  the database (default file:./data/rastar.db); credentials are never printed', 'DB_CONNECT_TIMEOUT  seconds to retry an unreachable server (default 5)'];

function announce(): void {
  const t = target();
  err(`Datasource: ${describeDatasource(t)}`);
}

const commands: Record<string, { spec: CommandSpec<Options>; run: (values: Record<string, string | boolean | undefined>) => Promise<number> }> = {
  deploy: {
    spec: {
      summary: 'Apply every pending migration, each in one transaction with its history row. Never creates migrations or resets data.',
      usage: 'migrate deploy',
      options: {},
      optionHelp: [],
      env: [
        ...DB_ENV,
        'MIGRATION_LOCK_TIMEOUT  seconds to wait for another migrator (default 120, PostgreSQL)',
        'MIGRATION_DDL_LOCK_TIMEOUT  PostgreSQL: seconds a migration waits for a table lock before it is rolled back and retried, up to 4 attempts (default 5; 0: no limit)',
        'MIGRATION_STATEMENT_TIMEOUT  PostgreSQL: statement_timeout of migrations in seconds (default: the server\'s)',
      ],
      examples: ['make deploy', 'DATABASE_URL=postgresql://app:secret@db:5432/rastar npm run prisma:migrate:deploy'],
    },
    async run() {
      announce();
      const history = readHistory(target().provider, undefined, { lazyScripts: true });
      assertDeployable(history); // before connecting: a refused deploy creates no SQLite file
      const conn = await openConnection(target(), { applicationName: 'rastar-migrate' });
      try {
        const started = Date.now();
        const result = await deploy(conn, history, { lockTimeoutMs: lockTimeoutMs(), onEvent: printDeployEvents() });
        const byOthers = result.appliedByOthers.length ? ` (${result.appliedByOthers.length} applied by another migrator)` : '';
        if (result.applied.length === 0) out(byOthers ? `Database is up to date${byOthers}.` : 'No pending migrations. Database is up to date.');
        else out(`Database is now up to date! ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'} applied in ${formatMs(Date.now() - started)}${byOthers}.`);
        return 0;
      } finally {
        await conn.close();
      }
    },
  },
  status: {
    spec: {
      summary: 'Compare the migrations folder with the database: applied, pending, failed, edited, unknown. Read-only.',
      usage: 'migrate status [--json]',
      options: { json: { type: 'boolean' } },
      optionHelp: ['--json  print the status as JSON on stdout'],
      env: DB_ENV,
      examples: ['make status', 'npm run prisma:status -- --json'],
    },
    async run(values) {
      if (!values.json) announce();
      const history = readHistory(target().provider, undefined, { lazyScripts: true });
      assertLockfile(history); // P3019, like prisma migrate status: this history does not describe this database
      const conn = await openConnection(target(), { applicationName: 'rastar-status', readonly: true }).catch((error) => {
        // A SQLite file that does not exist yet simply has everything pending.
        if (target().provider === 'sqlite' && error instanceof KitError && error.prismaCode === 'P1003') return null;
        throw error;
      });
      let status: MigrationStatus;
      // Tables and no history: deploy would refuse (P3005), so status says what deploy, check and verify say.
      let tables: string[] = [];
      try {
        status = conn ? await readStatus(conn, history) : { applied: [], pending: history.migrations.map((m) => m.name), failed: [], edited: [], unknown: [], hasTable: false, upToDate: history.migrations.length === 0 };
        if (conn && !status.hasTable) tables = await userTables(conn);
      } finally {
        await conn?.close();
      }
      const needsBaseline = tables.length > 0;
      if (needsBaseline) status = { ...status, upToDate: false };
      if (values.json) out(JSON.stringify({ datasource: maskUrl(target().url), provider: target().provider, migrationsDir: displayPath(history.dir), ...status, needsBaseline }, null, 2));
      else printStatus(status, history.migrations.length, displayPath(history.dir), needsBaseline ? baselineNeeded(tables, history) : null);
      return status.upToDate ? 0 : 1;
    },
  },
  resolve: {
    spec: {
      summary: 'Record a migration as applied (baseline, or fixed by hand) or a failed one as rolled back, like prisma migrate resolve.',
      usage: 'migrate resolve (--applied <name> | --rolled-back <name>)',
      options: { applied: { type: 'string' }, 'rolled-back': { type: 'string' } },
      optionHelp: ['--applied <name>      record <name> as applied without running it', '--rolled-back <name>  mark the failed migration <name> as rolled back; the next deploy retries it'],
      env: DB_ENV,
      examples: ['make resolve APPLIED=20251228134626_test', 'make resolve ROLLED_BACK=20260106063036_add_mcp_tool_logging'],
    },
    async run(values) {
      const applied = values.applied as string | undefined;
      const rolledBack = values['rolled-back'] as string | undefined;
      if (Boolean(applied) === Boolean(rolledBack)) throw new KitError('BAD_USAGE', 'Give exactly one of --applied <name> or --rolled-back <name>');
      announce();
      const name = (applied ?? rolledBack) as string;
      // The engine-backed commands load on demand: deploy and status start without them.
      const { resolveMigration } = await import('../src/runtime/resolve.ts');
      await resolveMigration(target(), readHistory(target().provider), name, applied ? 'applied' : 'rolled-back');
      out(applied ? `Migration ${name} marked as applied.` : `Migration ${name} marked as rolled back; run make deploy to apply it again.`);
      return 0;
    },
  },
  wait: {
    spec: {
      summary: 'Wait until the database is reachable, then until it holds every migration of this folder (finished, none failed): the gate of a container that does not migrate.',
      usage: 'migrate wait [--database-only]',
      options: { 'database-only': { type: 'boolean' } },
      optionHelp: ['--database-only  only wait until the database answers'],
      env: [
        ...DB_ENV,
        'DB_WAIT_TIMEOUT  seconds to wait for the database to answer (default 60)',
        'MIGRATION_WAIT_TIMEOUT  seconds to wait for the migrations to be applied (default 300)',
      ],
      examples: ['make wait', 'node dist/scripts/migrate.js wait   # in a container, before exec-ing the app'],
    },
    async run(values) {
      const { waitForDatabase, waitForSchema } = await import('../src/runtime/gate.ts');
      const { dbWaitTimeoutMs, gateTimeoutMs } = await import('../src/env.ts');
      const t = target();
      const heartbeat = (seconds: number, reason: string) => err(`… ${reason} (${seconds}s)`);
      const dbTimeout = dbWaitTimeoutMs();
      const gateTimeout = gateTimeoutMs();
      const conn = await waitForDatabase(t, { timeoutMs: dbTimeout, onHeartbeat: heartbeat });
      try {
        if (values['database-only']) {
          out(`Database is reachable: ${describeTarget(t)}`);
          return 0;
        }
        const onPooler = () => err(`Note: a transaction pooler sits between the kit and the database: LISTEN cannot work through it, so the gate polls every second. Set DIRECT_DATABASE_URL to the server itself to be woken by the migrator's NOTIFY.`);
        const gate = await waitForSchema(conn, readHistory(t.provider, undefined, { lazyScripts: true }), { timeoutMs: gateTimeout, onHeartbeat: heartbeat, onPooler });
        if (gate.newerInDatabase.length) {
          out(`Note: the database has ${gate.newerInDatabase.length} newer migration(s) this image does not know (${gate.newerInDatabase.join(', ')}); every migration of this image is applied, starting.`);
        }
        out(`Schema is up to date (${gate.status.applied.length} migrations${gate.waitedMs > 0 ? `, waited ${formatMs(gate.waitedMs)}` : ''}).`);
        return 0;
      } finally {
        await conn.close();
      }
    },
  },
  create: {
    spec: {
      summary: 'Create a migration for both providers from one change of prisma/schema.prisma, apply it to the dev database and regenerate the clients.',
      usage: 'migrate create --name <name> [--create-only] [--accept-data-loss] [--allow-breaking]',
      options: { name: { type: 'string' }, 'create-only': { type: 'boolean' }, 'accept-data-loss': { type: 'boolean' }, 'allow-breaking': { type: 'boolean' } },
      optionHelp: [
        '--name <name>         snake_case name, e.g. add_tool_logs_table (letters, digits, _ and -)',
        '--create-only         write the migration folders without applying them',
        '--accept-data-loss    allow steps that drop or alter data (listed otherwise)',
        '--allow-breaking      write a change that breaks the release still running during a deploy (make lint rules; refused otherwise)',
      ],
      env: [
        ...DB_ENV,
        'SHADOW_DATABASE_URL  PostgreSQL server for the shadow database (default: an embedded PostgreSQL started for the occasion)',
        'CONCURRENT_INDEXES   1 (default): an index on a table that existed before goes into a migration of its own, built CONCURRENTLY on PostgreSQL; 0 keeps Prisma\'s plain CREATE INDEX',
      ],
      examples: ['make migrate NAME=add_tool_logs_table', 'npm run prisma:migrate -- --name add_tool_logs_table --create-only'],
    },
    async run(values) {
      const name = (values.name as string | undefined) ?? (await askName());
      if (!name) throw new KitError('BAD_USAGE', 'A migration name is required: make migrate NAME=add_something (or --name add_something)');
      announce(); // also arms the masking of this target's password in every later line
      const { createMigration } = await import('../src/authoring/create.ts');
      const result = await createMigration({
        name,
        createOnly: Boolean(values['create-only']),
        acceptDataLoss: Boolean(values['accept-data-loss']),
        allowBreaking: Boolean(values['allow-breaking']),
        onProgress: (line) => err(line),
      });
      if (!result.name) {
        out('No schema changes: nothing to migrate.');
        return 0;
      }
      for (const folder of result.folders) out(`✓ Created ${displayPath(folder)}/migration.sql`);
      if (result.names.length > 1) out(`  ${result.names.at(-1)} builds the indexes on existing tables CONCURRENTLY on PostgreSQL (writes go on meanwhile; CONCURRENT_INDEXES=0 keeps them in one migration)`);
      if (result.applied) for (const name of result.names) out(`✓ Applied ${name} to the dev database`);
      return 0;
    },
  },
};

/** Like `prisma migrate dev`: ask for the name when a person is at the terminal. */
async function askName(): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question('Enter a name for the new migration: ')).trim() || undefined;
  } finally {
    prompt.close();
  }
}

function printStatus(status: MigrationStatus, total: number, dir: string, baseline: KitError | null): void {
  out(`${total} migration${total === 1 ? '' : 's'} found in ${dir}`);
  out();
  const failed = new Map(status.failed.map((f) => [f.name, f]));
  for (const name of status.applied) out(`[X] ${name}${status.edited.includes(name) ? '   edited after it was applied (checksum differs)' : ''}`);
  for (const [name, f] of failed) out(`[!] ${name}   ${f.running ? 'running without a transaction, or its migrator died part-way' : 'failed'}`);
  for (const name of status.pending) out(`[ ] ${name}   pending`);
  for (const name of status.unknown) out(`[?] ${name}   in the database, not in the folder`);
  out();
  out(`Applied: ${status.applied.length}  Pending: ${status.pending.length}  Failed: ${status.failed.length}  Edited: ${status.edited.length}  Unknown: ${status.unknown.length}`);
  if (status.upToDate) {
    out('Database schema is up to date!');
    return;
  }
  for (const f of status.failed) {
    err(`Migration ${f.name} failed${f.logs ? `: ${f.logs.split('\n')[0]}` : ''}`);
    err(recoveryHint(f.name));
  }
  if (baseline) {
    err(baseline.message);
    err(baseline.hint as string);
    return;
  }
  if (status.pending.length && !status.failed.length) err(`${status.pending.length} pending migration${status.pending.length === 1 ? '' : 's'}; apply with: make deploy`);
  if (status.edited.length) err('Edited migrations: restore the files from version control (git checkout -- prisma/migrations); never edit an applied migration, create a new one.');
  if (status.unknown.length) err('Unknown migrations: this checkout is older than the database; pull the latest history.');
}

const [command, ...rest] = process.argv.slice(2);
const entry = command ? commands[command] : undefined;
if (!entry) {
  const usage = `Usage: migrate <command> [options]\n\nCommands:\n${Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(8)} ${c.spec.summary}`)
    .join('\n')}\n\nRun migrate <command> --help for its options.`;
  const wantsHelp = !command || command === '--help' || command === '-h' || command === 'help';
  (wantsHelp ? process.stdout : process.stderr).write(`${wantsHelp ? '' : `Error: unknown command "${command}"\n`}${usage}\n`);
  process.exit(wantsHelp && command ? 0 : 2);
}
await runCommand(entry.spec, rest, entry.run);
