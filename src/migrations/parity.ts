/**
 * The lockstep guard: both histories carry the same migration names, their
 * lock files name their provider, the derived schema is fresh, and each
 * history, replayed on a shadow database, yields the source schema.
 */
import { createMigrationAdapterFactory, parseDatabaseUrl, type DatabaseTarget, type Provider } from '../db.ts';
import { errorMessage } from '../errors.ts';
import { diff, openEngine } from './engine.ts';
import { PROVIDERS, displayPath, lockfileProvider, readHistory, toMigrationList, type History } from './history.ts';
import { derivedSchemaIsFresh, schemaFor, schemaPath } from './schema.ts';
import { withPostgresServer } from './shadow.ts';

export interface ParityItem {
  check: string;
  ok: boolean;
  detail: string;
}

export async function checkParity(onProgress?: (line: string) => void): Promise<{ ok: boolean; items: ParityItem[] }> {
  const items: ParityItem[] = [];
  const histories = Object.fromEntries(PROVIDERS.map((p) => [p, readHistory(p)])) as Record<Provider, History>;

  const names = Object.fromEntries(PROVIDERS.map((p) => [p, new Set(histories[p].migrations.map((m) => m.name))])) as Record<Provider, Set<string>>;
  const onlyIn = (a: Provider, b: Provider) => [...names[a]].filter((n) => !names[b].has(n));
  const onlySqlite = onlyIn('sqlite', 'postgresql');
  const onlyPostgres = onlyIn('postgresql', 'sqlite');
  items.push(
    onlySqlite.length || onlyPostgres.length
      ? {
          check: 'names',
          ok: false,
          detail: [onlySqlite.length ? `only in sqlite: ${onlySqlite.join(', ')}` : '', onlyPostgres.length ? `only in postgresql: ${onlyPostgres.join(', ')}` : ''].filter(Boolean).join('; '),
        }
      : { check: 'names', ok: true, detail: `${names.sqlite.size} migrations, same names in both histories` },
  );

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
  const schema = schemaFor(provider);
  try {
    const engine = await openEngine(schema.path, schema.text, await createMigrationAdapterFactory(engineTarget));
    try {
      const files = [{ path: schema.path, content: schema.text }];
      const result = await diff(engine, { tag: 'migrations', ...toMigrationList(history) }, { tag: 'schemaDatamodel', files }, false);
      return result.changed
        ? { check, ok: false, detail: `the ${history.migrations.length} migrations do not yield schema.prisma; missing from the history:\n${result.output.trim()}` }
        : { check, ok: true, detail: `${history.migrations.length} migrations yield schema.prisma` };
    } finally {
      await engine.close();
    }
  } catch (error) {
    return { check, ok: false, detail: errorMessage(error) };
  }
}
