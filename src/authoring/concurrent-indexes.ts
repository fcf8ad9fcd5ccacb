/**
 * Prisma writes every `@@index` and `@unique` as a plain CREATE INDEX, which blocks every
 * write to the table for the whole build. For a table that existed before the
 * migration, `make migrate` moves those builds into a migration of their own that
 * follows it, under the same name in both folders: PostgreSQL builds them `CREATE INDEX
 * CONCURRENTLY IF NOT EXISTS` (deploy runs that migration outside a transaction and
 * drops an INVALID leftover of an interrupted build before building again); SQLite keeps
 * Prisma's statements, whose build takes its write lock either way.
 */
import { findWord, nameAt, parseScript, startsWith, wordsAt, type Statement } from '../runtime/sql-script.ts';
import { columnList, freshColumns } from './unique-keys.ts';

export interface Scripts {
  sqlite: string;
  postgresql: string;
}

export interface Split {
  /** Prisma's migration without the moved builds. */
  main: Scripts;
  /** The builds moved out, or null when none is on a table that existed before. */
  indexes: Scripts | null;
}

interface IndexBuild {
  statement: Statement;
  name: string;
  table: string;
  unique: boolean;
  columns: string[] | null;
}

/** `CREATE [UNIQUE] INDEX name ON [ONLY] table …`, not already CONCURRENTLY. */
function indexBuild(statement: Statement): IndexBuild | null {
  const { tokens } = statement;
  const unique = startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX');
  if (!unique && !startsWith(tokens, 'CREATE', 'INDEX')) return null;
  const at = unique ? 3 : 2;
  if (wordsAt(tokens, at, 'CONCURRENTLY') || wordsAt(tokens, at, 'IF')) return null;
  const name = nameAt(tokens, at);
  if (!name || !wordsAt(tokens, name.next, 'ON')) return null;
  const table = nameAt(tokens, wordsAt(tokens, name.next + 1, 'ONLY') ? name.next + 2 : name.next + 1);
  if (!table) return null;
  const open = wordsAt(tokens, table.next, 'USING') ? table.next + 2 : table.next;
  return { statement, name: name.name, table: table.name, unique, columns: columnList(tokens, open) };
}

/** The tables a script creates, and those its foreign keys reference (their unique index must exist first). */
function tablesOf(statements: Statement[]): { created: Set<string>; referenced: Set<string> } {
  const created = new Set<string>();
  const referenced = new Set<string>();
  for (const { tokens } of statements) {
    if (startsWith(tokens, 'CREATE', 'TABLE')) {
      const name = nameAt(tokens, wordsAt(tokens, 2, 'IF', 'NOT', 'EXISTS') ? 5 : 2);
      if (name) created.add(name.name);
    }
    for (let k = findWord(tokens, 'REFERENCES'); k !== -1; k = findWord(tokens, 'REFERENCES', k + 1)) {
      const table = nameAt(tokens, k + 1);
      if (table) referenced.add(table.name);
    }
  }
  return { created, referenced };
}

/** The script without these statements, each with its `;`, its line and Prisma's `-- CreateIndex` comment above it. */
function without(script: string, statements: Statement[]): string {
  let text = '';
  let from = 0;
  for (const statement of [...statements].sort((a, b) => a.start - b.start)) {
    // The whole line when the statement has it to itself (as Prisma writes them), else just the statement.
    let start = statement.start;
    const lineStart = script.lastIndexOf('\n', start - 1) + 1;
    if (script.slice(lineStart, start).trim() === '') {
      start = lineStart;
      const above = script.lastIndexOf('\n', start - 2) + 1;
      if (start > 0 && /^--\s*CreateIndex\s*$/.test(script.slice(above, start - 1))) start = above;
    }
    let end = statement.start + statement.text.length;
    if (script[end] === ';') end++;
    const newline = script.indexOf('\n', end);
    const lineEnd = newline === -1 ? script.length : newline + 1;
    if (script.slice(end, lineEnd).trim() === '') {
      end = lineEnd;
      if (script.slice(end).startsWith('\n')) end++; // the blank line Prisma leaves after each step
    }
    text += script.slice(from, start);
    from = end;
  }
  return text + script.slice(from);
}

/** Split Prisma's migration of one change (both dialects) as the module comment says. */
export function splitIndexBuilds(scripts: Scripts): Split {
  const pg = parseScript(scripts.postgresql, 'postgresql');
  const { created, referenced } = tablesOf(pg);
  // A unique index a foreign key of the same migration needs stays where Prisma put it.
  const moved = pg.map(indexBuild).filter((b): b is IndexBuild => b !== null && !created.has(b.table) && !(b.unique && referenced.has(b.table)));
  if (moved.length === 0) return { main: scripts, indexes: null };
  const names = new Set(moved.map((b) => b.name));
  const sqliteMoved = parseScript(scripts.sqlite, 'sqlite').map(indexBuild).filter((b): b is IndexBuild => b !== null && names.has(b.name));

  // A unique key over a column the change itself adds (NULL everywhere, or generated per
  // row) meets no duplicates: the linter, reading this migration alone, is told so.
  const fresh = new Map<string, Set<string>>();
  for (const statement of pg) for (const [table, columns] of freshColumns(statement)) fresh.set(table, new Set([...(fresh.get(table) ?? []), ...columns]));
  const freshKey = ({ unique, table, columns }: IndexBuild) => unique && columns?.some((column) => fresh.get(table)?.has(column));
  const allowed = moved.filter(freshKey).flatMap((b) => b.columns!.filter((column) => fresh.get(b.table)?.has(column)).map((column) => `"${b.table}"."${column}"`));
  const allow = allowed.length ? `-- lint:allow unique-on-existing the previous migration added ${[...new Set(allowed)].join(', ')}: no value repeats before this one runs\n` : '';
  const concurrently = moved.map(({ statement, unique }) => {
    const keyword = (statement.tokens[unique ? 2 : 1] as { end: number }).end - statement.start;
    return `-- CreateIndex (CONCURRENTLY: writes to the table go on during the build; deploy runs this migration outside a transaction)\n${statement.text.slice(0, keyword)} CONCURRENTLY IF NOT EXISTS${statement.text.slice(keyword)};\n`;
  });
  const sqliteBuilds = sqliteMoved.map(({ statement }) => `-- CreateIndex\n${statement.text};\n`);
  return {
    main: { postgresql: without(scripts.postgresql, moved.map((b) => b.statement)), sqlite: without(scripts.sqlite, sqliteMoved.map((b) => b.statement)) },
    indexes: {
      postgresql: allow + concurrently.join('\n'),
      sqlite: sqliteBuilds.length ? allow + sqliteBuilds.join('\n') : '-- The index builds of this change run CONCURRENTLY on PostgreSQL; SQLite built them in the previous migration.\n',
    },
  };
}
