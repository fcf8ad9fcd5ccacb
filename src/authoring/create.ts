/**
 * One schema change -> one migration, written in both dialects under the same
 * name: SQLite SQL from an in-memory shadow, PostgreSQL SQL from a real
 * PostgreSQL shadow. Then (unless create-only) applied to the dev database.
 */
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeTarget, openConnection, parseDatabaseUrl, type DatabaseTarget, type Provider } from '../db.ts';
import { KitError } from '../errors.ts';
import { deploy } from '../runtime/deploy.ts';
import { evaluateDataLoss, type DataLoss } from './data-loss.ts';
import { diff, historyTarget, withSchemaEngine } from './engine.ts';
import { generateClients } from './generate.ts';
import { lintFolder } from './lint.ts';
import { PROVIDERS, lockfileText, migrationsDir, readHistory, type History } from '../runtime/history.ts';
import { assertPortableSource } from './portability.ts';
import { readSourceSchema } from './schema.ts';
import { withPostgresServer } from './shadow.ts';
import { concurrentIndexesSetting, lockTimeoutMs } from '../env.ts';
import { parseScript } from '../runtime/sql-script.ts';
import { splitIndexBuilds, type Scripts } from './concurrent-indexes.ts';

export interface CreateOptions {
  name: string;
  createOnly: boolean;
  acceptDataLoss: boolean;
  /** Write a change the lint rules call breaking (the release still running would fail). */
  allowBreaking?: boolean;
  onProgress?: (line: string) => void;
}

export interface CreateResult {
  /** `<timestamp>_<name>`, or null when the schema has no changes. */
  name: string | null;
  /** Every migration written: the change, and the CONCURRENTLY index builds that follow it when any were moved out. */
  names: string[];
  folders: string[];
  applied: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$/;

export function validateName(name: string): void {
  if (!NAME.test(name)) {
    throw new KitError('BAD_USAGE', `Invalid migration name "${name}": use letters, digits, _ and - only (no spaces or slashes), e.g. add_tool_logs_table`);
  }
}

/** `20260106123456`: UTC, second precision, like Prisma. */
export function migrationTimestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export async function createMigration(options: CreateOptions): Promise<CreateResult> {
  validateName(options.name);
  assertPortableSource(readSourceSchema());
  const dev = parseDatabaseUrl();
  const histories = Object.fromEntries(PROVIDERS.map((p) => [p, readHistory(p)])) as Record<Provider, History>;
  const progress = options.onProgress ?? (() => {});

  // Both dialects at once: the SQLite diff runs while the PostgreSQL shadow server starts and replays.
  progress('Computing the SQLite migration (in-memory shadow database) and the PostgreSQL one (shadow database)…');
  const drafts = await Promise.allSettled([
    draft(histories.sqlite, parseDatabaseUrl('file::memory:')),
    dev.provider === 'postgresql' ? draft(histories.postgresql, dev) : withPostgresServer((server) => draft(histories.postgresql, server), progress),
  ]);
  const [sqlite, postgresql] = drafts.map((d) => {
    if (d.status === 'rejected') throw d.reason;
    return d.value;
  });

  if (!sqlite && !postgresql) return { name: null, names: [], folders: [], applied: false };
  if (!sqlite || !postgresql) {
    const missing = sqlite ? 'PostgreSQL' : 'SQLite';
    throw new KitError('HISTORY', `The change yields SQL for one provider only (none for ${missing}); the histories are out of lockstep. Run make parity to see where.`);
  }

  const loss = await dataLossOnDev(dev, postgresql);
  if (loss.warnings.length && !options.acceptDataLoss) {
    throw new KitError('DATA_LOSS', `This change may lose data in ${describeTarget(dev)}:\n${loss.warnings.map((w) => `  • ${w}`).join('\n')}`, {
      hint: `Nothing was written. If that is intended, run again with --accept-data-loss (make migrate NAME=${options.name} ACCEPT_DATA_LOSS=1).`,
    });
  }
  if (loss.unexecutable.length && !options.createOnly) {
    throw new KitError('DATA_LOSS', `This change cannot be applied to the existing data:\n${loss.unexecutable.map((w) => `  • ${w}`).join('\n')}`, {
      hint: `Nothing was written. Write the data migration by hand: make migrate NAME=${options.name} CREATE_ONLY=1, edit both migration.sql files, then make deploy.`,
    });
  }

  // Index builds on tables that existed before: a migration of their own, CONCURRENTLY on PostgreSQL.
  const split = concurrentIndexesSetting() ? splitIndexBuilds({ sqlite, postgresql }) : { main: { sqlite, postgresql }, indexes: null };
  const now = Date.now();
  const planned: { name: string; scripts: Scripts }[] = [];
  const mainEmpty = parseScript(split.main.postgresql).length === 0 && parseScript(split.main.sqlite, 'sqlite').length === 0;
  if (!split.indexes || !mainEmpty) planned.push({ name: `${migrationTimestamp(new Date(now))}_${options.name}`, scripts: split.main });
  if (split.indexes) planned.push({ name: `${migrationTimestamp(new Date(now + (mainEmpty ? 0 : 1000)))}_${options.name}${mainEmpty ? '' : '_indexes'}`, scripts: split.indexes });
  const names = planned.map((m) => m.name);

  const breaking = PROVIDERS.flatMap((provider) =>
    lintFolder(provider, [...histories[provider].migrations, ...planned.map((m) => ({ name: m.name, script: m.scripts[provider] }))], (name) => names.includes(name)).filter((f) => f.breaking && f.allowed === undefined),
  );
  if (breaking.length && !options.allowBreaking) {
    const steps = [...new Map(breaking.map((f) => [f.rule, f])).values()];
    throw new KitError('REFUSED', `This change breaks the release still running during a deploy:\n${breaking.map((f) => `  • ${f.dialect}: ${f.rule}: ${f.statement} (${f.why})`).join('\n')}`, {
      hint: [
        'Nothing was written. Keep the previous release working with expand/contract:',
        ...steps.map((f) => `  ${f.rule}: ${f.instead}`),
        `If that is intended (nothing runs the old code), run again with --allow-breaking (make migrate NAME=${options.name} ALLOW_BREAKING=1).`,
      ].join('\n'),
    });
  }

  const folders: string[] = [];
  try {
    for (const { name, scripts } of planned) {
      for (const provider of PROVIDERS) {
        const dir = migrationsDir(provider);
        const folder = join(dir, name);
        if (existsSync(folder)) throw new KitError('HISTORY', `Migration folder ${folder} already exists; wait a second and run again`);
        mkdirSync(folder, { recursive: true });
        folders.push(folder);
        writeFileSync(join(folder, 'migration.sql'), scripts[provider]);
        if (!existsSync(join(dir, 'migration_lock.toml'))) writeFileSync(join(dir, 'migration_lock.toml'), lockfileText(provider));
      }
    }
  } catch (error) {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  const name = names[0] as string;
  if (options.createOnly) return { name, names, folders, applied: false };

  progress(`Applying ${names.join(' and ')} to the dev database…`);
  const conn = await openConnection(dev, { applicationName: 'rastar-migrate' });
  try {
    await deploy(conn, readHistory(dev.provider), { lockTimeoutMs: lockTimeoutMs() });
  } finally {
    await conn.close();
  }
  progress('Regenerating the Prisma clients…');
  await generateClients();
  return { name, names, folders, applied: true };
}

/** The next migration of one provider: Prisma's diff from the replayed history (on a shadow) to the schema; null when empty. */
async function draft(history: History, engineTarget: DatabaseTarget): Promise<string | null> {
  return withSchemaEngine(engineTarget, {}, async (engine, { datamodel }) => {
    const result = await diff(engine, historyTarget(history), datamodel, true);
    return result.changed ? result.output : null;
  });
}

async function dataLossOnDev(dev: DatabaseTarget, postgresScript: string): Promise<DataLoss> {
  let conn;
  try {
    conn = await openConnection(dev, { readonly: true, applicationName: 'rastar-migrate' });
  } catch (error) {
    // No dev database yet: no data to lose. Any other failure is not a reason to go on.
    if (error instanceof KitError && error.prismaCode === 'P1003') return { warnings: [], unexecutable: [] };
    throw error;
  }
  try {
    return await evaluateDataLoss(postgresScript, conn);
  } finally {
    await conn.close();
  }
}
