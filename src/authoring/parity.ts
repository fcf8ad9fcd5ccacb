/**
 * The lockstep guard: both histories carry the same migration names, their
 * lock files name their provider, the derived schema is fresh, and each
 * history, replayed on a shadow database, yields the source schema.
 */
import { parseDatabaseUrl, type DatabaseTarget, type Provider } from '../db.ts';
import { errorMessage } from '../errors.ts';
import { diff, historyTarget, withSchemaEngine } from './engine.ts';
import { PROVIDERS, displayPath, lockfileProvider, readHistory, type History } from '../runtime/history.ts';
import { derivedSchemaIsFresh, schemaPath } from './schema.ts';
import { withPostgresServer } from './shadow.ts';

export interface ParityItem {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do when not ok. */
  hint?: string;
}

/** The same names in both folders; otherwise each folder's own, one per line, and renamed pairs (same timestamp, other name). */
function namesItem(histories: Record<Provider, History>): ParityItem {
  const names = Object.fromEntries(PROVIDERS.map((p) => [p, new Set(histories[p].migrations.map((m) => m.name))])) as Record<Provider, Set<string>>;
  const only = Object.fromEntries(PROVIDERS.map((p) => [p, [...names[p]].filter((n) => !names[p === 'sqlite' ? 'postgresql' : 'sqlite'].has(n))])) as Record<Provider, string[]>;
  const total = only.sqlite.length + only.postgresql.length;
  if (total === 0) return { check: 'names', ok: true, detail: `${names.sqlite.size} migrations, same names in both histories` };
  const stamp = (name: string) => /^\d{14}/.exec(name)?.[0];
  const renamed = only.sqlite.flatMap((a) => only.postgresql.filter((b) => stamp(a) !== undefined && stamp(a) === stamp(b)).map((b) => [a, b] as const));
  const lines = [`${total} migration${total === 1 ? ' is' : 's are'} not in both histories:`];
  for (const provider of PROVIDERS) {
    if (!only[provider].length) continue;
    lines.push(`only in ${displayPath(histories[provider].dir)} (${only[provider].length}):`, ...only[provider].map((n) => `  ${n}`));
  }
  const hints = [
    ...renamed.map(([a, b]) => `${a} (sqlite) and ${b} (postgresql) share a timestamp: one of them was renamed; rename the folder that was never deployed to the other's name.`),
    'Every migration needs a folder of the same name in both histories: add the missing migration.sql (the same change in the other dialect) by hand; make migrate only creates new migrations, for both at once.',
  ];
  return { check: 'names', ok: false, detail: lines.join('\n'), hint: hints.join('\n') };
}

export async function checkParity(onProgress?: (line: string) => void): Promise<{ ok: boolean; items: ParityItem[] }> {
  const items: ParityItem[] = [];
  const histories = Object.fromEntries(PROVIDERS.map((p) => [p, readHistory(p)])) as Record<Provider, History>;

  items.push(namesItem(histories));

  for (const provider of PROVIDERS) {
    const locked = histories[provider].lockfile === null ? null : lockfileProvider(histories[provider].lockfile as string);
    items.push({
      check: `lock file (${provider})`,
      ok: locked === provider,
      detail: locked === provider ? `provider = "${provider}"` : locked === null ? `missing in ${displayPath(histories[provider].dir)}` : `names "${locked}", expected "${provider}"`,
    });
  }

  const fresh = derivedSchemaIsFresh();
  items.push({ check: 'derived schema', ok: fresh, detail: fresh ? `${displayPath(schemaPath('postgresql'))} matches schema.prisma` : `${displayPath(schemaPath('postgresql'))} is stale: run make generate` });

  onProgress?.('Replaying the SQLite history on an in-memory shadow database…');
  items.push(await replay('sqlite', histories.sqlite, parseDatabaseUrl('file::memory:')));
  onProgress?.('Replaying the PostgreSQL history on a shadow database…');
  items.push(await withPostgresServer((server) => replay('postgresql', histories.postgresql, server), onProgress));

  return { ok: items.every((i) => i.ok), items };
}

async function replay(provider: Provider, history: History, engineTarget: DatabaseTarget): Promise<ParityItem> {
  const check = `replay (${provider})`;
  try {
    return await withSchemaEngine(engineTarget, {}, async (engine, { datamodel }) => {
      const result = await diff(engine, historyTarget(history), datamodel, false);
      return result.changed
        ? { check, ok: false, detail: `the ${history.migrations.length} migrations do not yield schema.prisma; missing from the history:\n${result.output.trim()}`, hint: 'When the names above line up, schema.prisma has changes without a migration: make migrate NAME=…' }
        : { check, ok: true, detail: `${history.migrations.length} migrations yield schema.prisma` };
    });
  } catch (error) {
    return { check, ok: false, detail: errorMessage(error) };
  }
}
