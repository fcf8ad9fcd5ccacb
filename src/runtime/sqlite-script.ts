/**
 * Run a SQLite script statement by statement, the way SQLite's own shell and
 * Prisma's native engine (rusqlite, SQLite's permissive defaults) accept it.
 *
 * better-sqlite3 is built with SQLITE_DQS=0 and exposes no sqlite3_db_config,
 * so `WHERE key = "x"` fails with "no such column: "x" - should this be a string
 * literal in single-quotes?" where other SQLite builds read "x" as a string. That
 * error is raised while the statement is compiled, before any of it runs, and it
 * names the token: the kit then does what SQLite's legacy rule does (an
 * identifier that names no column is a string) for exactly that occurrence, and
 * compiles the statement again.
 */
import type { SqlDriverAdapter } from '@prisma/driver-adapter-utils';
import { parseScript, scanStatements, sqlLiteral, type Statement, type Token } from './sql-script.ts';

/** A statement of a script failed: which one, and why. */
export class StatementError extends Error {
  /** The driver's error code (SQLITE_BUSY, …), so callers can still tell errors apart. */
  readonly code?: string;

  constructor(
    readonly statement: Statement,
    /** 1-based position among the script's statements. */
    readonly index: number,
    readonly reason: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason), { cause: reason });
    this.code = (reason as { code?: string } | null)?.code;
  }
}

const LEGACY_STRING = /^no such column: "(.*)" - should this be a string literal in single-quotes\?$/s;

/** The name SQLite refused to read as a string literal, or null for any other error. */
export function legacyStringName(error: unknown): string | null {
  // The Prisma adapter keeps the driver's message as its error's cause.
  const message = (error as { cause?: { originalMessage?: string } } | null)?.cause?.originalMessage ?? (error instanceof Error ? error.message : String(error));
  return LEGACY_STRING.exec(message.split('\n')[0] as string)?.[1] ?? null;
}

/** The names a statement of this database may resolve a `"…"` to (lower case): tables, views, indexes, triggers and their columns. */
export type SchemaNames = () => Promise<ReadonlySet<string>> | ReadonlySet<string>;

/** The query behind SchemaNames: one column `name`. */
export const SCHEMA_NAMES_SQL = `SELECT lower(name) AS name FROM sqlite_schema UNION SELECT lower(p.name) FROM sqlite_schema s, pragma_table_xinfo(s.name) p WHERE s.type IN ('table', 'view')`;

export async function runSqliteScript(script: string, exec: (sql: string) => void | Promise<void>, names?: SchemaNames): Promise<void> {
  let index = 0;
  for (const statement of scanStatements(script, 'sqlite')) {
    index++;
    try {
      await acceptingLegacyStrings(statement.text, exec, names);
    } catch (error) {
      throw new StatementError(statement, index, error);
    }
  }
}

/**
 * Run one statement (or query), reading a double-quoted token as a string where SQLite's
 * legacy rule would. Given the schema's names, every `"…"` that can name nothing (no
 * object or column of the schema, no alias or name the statement defines) is read as a
 * string at once: a statement compiles a bounded number of times, not once per literal.
 */
export async function acceptingLegacyStrings<T>(original: string, exec: (sql: string) => T | Promise<T>, names?: SchemaNames): Promise<T> {
  let text = original;
  let firstError: unknown;
  // Each round turns one more double-quoted token into a string: it ends.
  for (;;) {
    let name: string | null;
    try {
      return await exec(text);
    } catch (error) {
      firstError ??= error;
      name = legacyStringName(error);
      if (name === null) throw error;
    }
    const occurrences = doubleQuoted(text).filter((t) => t.value === name);
    if (occurrences.length === 0) throw firstError;
    // First every "…" of the rows of a VALUES list when the refused one is among them (no
    // name can resolve there: a seed of many rows compiles twice, not once per literal);
    // then every occurrence of "name" at once (a literal repeated), then each alone, first
    // to last: the first rewrite SQLite then accepts is the one its legacy rule would have made.
    const rows = valuesRowStrings(text);
    const strays = names ? namingNothing(text, await names()) : [];
    const choices = [
      ...(strays.length > occurrences.length && strays.some((t) => t.value === name) ? [strays] : []),
      ...(rows.length > occurrences.length && rows.some((t) => t.value === name) ? [rows] : []),
      ...(occurrences.length > 1 ? [occurrences, ...occurrences.map((t) => [t])] : [occurrences]),
    ];
    let next: string | null = null;
    let laterError: unknown;
    for (const tokens of choices) {
      const candidate = asLiterals(text, tokens);
      try {
        return await exec(candidate);
      } catch (error) {
        const other = legacyStringName(error);
        if (other === name) continue; // an identifier among them
        if (other !== null) {
          next = candidate; // this one was the literal; another token is next
          break;
        }
        laterError ??= error; // past the literal, the statement fails for another reason
      }
    }
    if (next === null) throw laterError ?? firstError;
    text = next;
  }
}

/** The text with these `"…"` tokens written as '…' literals. */
function asLiterals(text: string, tokens: Token[]): string {
  let result = '';
  let from = 0;
  for (const token of tokens) {
    result += text.slice(from, token.start) + sqlLiteral(token.value);
    from = token.end;
  }
  return result + text.slice(from);
}

/** The `"…"` tokens of a one-statement text, offsets relative to the text. */
function doubleQuoted(text: string): Token[] {
  const statement = parseScript(text, 'sqlite')[0];
  if (!statement) return [];
  return statement.tokens.filter((t) => t.kind === 'quoted' && text[t.start] === '"');
}

/**
 * The `"…"` tokens standing alone as a value of a row of an INSERT's VALUES list
 * (`VALUES (1, "a"), (2, "b")`): no column is in scope there, so SQLite's legacy rule
 * always reads them as strings. Not inside a nested expression, nor next to a `.`.
 */
function valuesRowStrings(text: string): Token[] {
  const statement = parseScript(text, 'sqlite')[0];
  if (!statement) return [];
  const { tokens } = statement;
  const start = tokens.findIndex((t) => t.kind === 'word' && t.value === 'VALUES');
  if (start === -1 || !tokens.some((t, k) => k < start && t.kind === 'word' && (t.value === 'INSERT' || t.value === 'REPLACE'))) return [];
  const strings: Token[] = [];
  let depth = 0;
  for (let k = start + 1; k < tokens.length; k++) {
    const token = tokens[k] as Token;
    if (token.kind === 'symbol' && token.value === '(') depth++;
    else if (token.kind === 'symbol' && token.value === ')') depth--;
    else if (depth === 0 && token.kind !== 'symbol') break; // ON CONFLICT, RETURNING, …
    else if (depth === 1 && token.kind === 'quoted' && text[token.start] === '"' && !nextToDot(tokens, k)) strings.push(token);
  }
  return strings;
}

/** Words after which a `"…"` starts an expression or names a known object, not an alias. */
const KEYWORDS = new Set(
  'ADD ALL ALTER AND AS ASC BEFORE AFTER BEGIN BETWEEN BY CASE CAST CHECK COLLATE COLUMN CONFLICT CONSTRAINT CREATE CROSS DEFAULT DELETE DESC DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXISTS FOR FROM GLOB GROUP HAVING IF IN INDEX INNER INSERT INSTEAD INTERSECT INTO IS JOIN KEY LEFT LIKE LIMIT MATCH NATURAL NOT NULL OF OFFSET ON OR ORDER OUTER PRAGMA PRIMARY RAISE RECURSIVE REFERENCES REGEXP RENAME REPLACE RETURNING ROW SELECT SET TABLE TEMP TEMPORARY THEN TO TRIGGER UNION UNIQUE UPDATE USING VALUES VIEW WHEN WHERE WITH'.split(' '),
);

/**
 * The `"…"` tokens of a statement that can name nothing: not a name of the schema, not
 * next to a `.`, and not a name the statement defines anywhere (after or before AS, an
 * alias written right after a name or a `)`, a WITH's column list).
 */
function namingNothing(text: string, schema: ReadonlySet<string>): Token[] {
  const statement = parseScript(text, 'sqlite')[0];
  if (!statement) return [];
  const { tokens } = statement;
  const defined = new Set<string>();
  tokens.forEach((token, k) => {
    if (token.kind !== 'quoted' && token.kind !== 'word') return;
    const before = tokens[k - 1];
    const after = tokens[k + 1];
    const aliasAfter = before && ((before.kind === 'word' && !KEYWORDS.has(before.value)) || before.kind === 'quoted' || (before.kind === 'symbol' && before.value === ')'));
    if (token.kind === 'quoted' && (aliasAfter || (after?.kind === 'word' && after.value === 'AS') || (before?.kind === 'word' && before.value === 'AS'))) defined.add(token.value.toLowerCase());
    // WITH "c"("x", "y") AS (…): the column list names too.
    if (after?.kind === 'symbol' && after.value === '(' && (token.kind === 'quoted' || !KEYWORDS.has(token.value))) {
      let j = k + 2;
      const list: string[] = [];
      while (tokens[j] && !(tokens[j]?.kind === 'symbol' && tokens[j]?.value === ')')) {
        if (tokens[j]?.kind === 'quoted') list.push((tokens[j] as Token).value.toLowerCase());
        j++;
      }
      if (tokens[j + 1]?.kind === 'word' && tokens[j + 1]?.value === 'AS') for (const name of list) defined.add(name);
    }
  });
  return tokens.filter((t, k) => t.kind === 'quoted' && text[t.start] === '"' && !nextToDot(tokens, k) && !schema.has(t.value.toLowerCase()) && !defined.has(t.value.toLowerCase()));
}

function nextToDot(tokens: Token[], k: number): boolean {
  return [tokens[k - 1], tokens[k + 1]].some((t) => t?.kind === 'symbol' && t.value === '.');
}

// ---------------------------------------------------------------------------
// The schema engine's SQLite adapter (db.ts opens it; its statements run here)

/**
 * The engine's SQLite scripts run statement by statement, double-quoted strings
 * accepted as SQLite's own builds accept them (see sqlite-script.ts). It replays a
 * migration on a shadow through executeRaw, which prepares one statement only: a
 * script without parameters goes the script's way. Its own catalog queries need
 * the same rule: it reads a partial index's definition with `name = "<index>"`.
 */
export function acceptScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const executeScript = adapter.executeScript.bind(adapter);
  const executeRaw = adapter.executeRaw.bind(adapter);
  const queryRaw = adapter.queryRaw.bind(adapter);
  const names = async () => new Set((await queryRaw({ sql: SCHEMA_NAMES_SQL, args: [], argTypes: [] })).rows.map((row) => String(row[0])));
  const runScript = async (script: string) => {
    try {
      await runSqliteScript(script, executeScript, names);
    } catch (error) {
      throw error instanceof StatementError ? error.reason : error; // the engine maps the adapter's own errors
    }
  };
  return Object.assign(adapter, {
    executeScript: runScript,
    queryRaw: (query: Parameters<SqlDriverAdapter['queryRaw']>[0]) => acceptingLegacyStrings(query.sql, (sql) => queryRaw({ ...query, sql }), names),
    async executeRaw(query: Parameters<SqlDriverAdapter['executeRaw']>[0]) {
      if (query.args.length > 0) return executeRaw(query);
      if (parseScript(query.sql, 'sqlite').length > 1) return runScript(query.sql).then(() => 0);
      try {
        return await executeRaw(query);
      } catch (error) {
        if (legacyStringName(error) === null) throw error;
        return runScript(query.sql).then(() => 0);
      }
    },
  });
}

/**
 * The engine locks a SQLite database with `PRAGMA locking_mode=EXCLUSIVE` before it
 * writes history rows. In WAL mode (the kit's deploy sets it) that lock cannot be had
 * while any other connection is open, the running app's included, and the engine
 * gives up with a busy timeout. The kit serialises migrators with its own lock file;
 * the engine's single-row writes need no more.
 */
export function withoutExclusiveLocking(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const executeRaw = adapter.executeRaw.bind(adapter);
  return Object.assign(adapter, {
    async executeRaw(query: Parameters<SqlDriverAdapter['executeRaw']>[0]) {
      return isExclusiveLocking(query.sql) ? 0 : executeRaw(query);
    },
  });
}

/** `PRAGMA [main.]locking_mode = EXCLUSIVE`, read by its tokens (no regular expression over SQL). */
function isExclusiveLocking(sql: string): boolean {
  const statements = parseScript(sql, 'sqlite');
  const words = statements.length === 1 ? (statements[0] as Statement).tokens.map((t) => t.value) : [];
  const pragma = words[1] === 'MAIN' && words[2] === '.' ? words.slice(3) : words.slice(1);
  return words[0] === 'PRAGMA' && pragma.length === 3 && pragma[0] === 'LOCKING_MODE' && pragma[1] === '=' && pragma[2] === 'EXCLUSIVE';
}
