/**
 * The zero-downtime rules: what in a migration breaks the release still running
 * beside it (it reads the old schema until the new one replaces it), what takes a
 * lock that stalls the application on PostgreSQL, what rewrites a SQLite table, what
 * touches every row. Each rule reads one statement's tokens (sql-script.ts), knowing
 * which tables the migration itself created before it: those hold no rows yet and no
 * release reads them.
 */
import type { Provider } from '../db.ts';
import { columnList, UniqueKeys } from './unique-keys.ts';
import { addedEnumValue, alterActions, findWord, nameAt, nameList, scanStatements, startsWith, transactionControl, wordsAt, type Statement, type Token } from '../runtime/sql-script.ts';

export type Level = 'error' | 'warning';

export interface Rule {
  level: Level;
  /** Breaking rules are refused by `make migrate` unless allowed. */
  breaking: boolean;
  dialects: readonly Provider[];
  why: string;
  instead: string;
}

const BOTH = ['sqlite', 'postgresql'] as const;
const PG = ['postgresql'] as const;

export const RULES = {
  'drop-table': { level: 'error', breaking: true, dialects: BOTH, why: 'the running release still reads and writes this table', instead: 'stop using the table in one release, drop it in a later one' },
  'drop-column': { level: 'error', breaking: true, dialects: BOTH, why: 'the running release still selects this column (Prisma names every column it reads)', instead: 'remove the field from the code in one release, drop the column in a later one' },
  rename: { level: 'error', breaking: true, dialects: BOTH, why: 'the running release still uses the old name', instead: 'expand/contract: add the new column or table, write both, backfill, switch reads, then drop the old one in a later release' },
  'change-type': { level: 'error', breaking: true, dialects: PG, why: 'the running release reads and writes the old type, and PostgreSQL rewrites the table under an exclusive lock', instead: 'add a column of the new type, write both, backfill in batches, switch reads, drop the old column later' },
  'enum-change': { level: 'error', breaking: true, dialects: PG, why: 'a value the running release writes disappears or changes its name', instead: 'add the new value first; stop writing the old one in a release; remove it in a later one' },
  'set-not-null': { level: 'error', breaking: true, dialects: PG, why: 'the running release may still insert NULL here, and PostgreSQL scans the whole table under an exclusive lock', instead: 'add CHECK ("col" IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, then SET NOT NULL (PostgreSQL 12+ uses the valid check)' },
  'not-null-without-default': { level: 'error', breaking: true, dialects: BOTH, why: 'rows the running release inserts lack this column and fail; existing rows have no value', instead: 'add the column with a DEFAULT (or nullable), backfill, and make it required in a later release' },
  'unique-on-existing': { level: 'error', breaking: true, dialects: BOTH, why: 'it fails on duplicates already in the table, and the running release may go on writing them', instead: 'remove the duplicates and stop writing them first; on PostgreSQL build the index CONCURRENTLY, then attach it (ADD CONSTRAINT … UNIQUE USING INDEX)' },
  'index-not-concurrent': { level: 'warning', breaking: false, dialects: PG, why: 'CREATE/DROP INDEX blocks every write to the table until it finishes', instead: 'CREATE INDEX CONCURRENTLY / DROP INDEX CONCURRENTLY, alone in its migration (the kit runs it outside a transaction)' },
  'foreign-key-not-valid': { level: 'warning', breaking: false, dialects: PG, why: 'adding a foreign key checks every row while it blocks writes to both tables', instead: 'ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a later migration' },
  'check-not-valid': { level: 'warning', breaking: false, dialects: PG, why: 'adding a CHECK scans every row under an exclusive lock', instead: 'ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a later migration' },
  'volatile-default': { level: 'warning', breaking: false, dialects: PG, why: 'a volatile default (random(), gen_random_uuid(), clock_timestamp(), a sequence) rewrites the whole table under an exclusive lock', instead: 'add the column without the default (or with a constant one), backfill in batches, then SET DEFAULT' },
  'vacuum-full': { level: 'error', breaking: false, dialects: PG, why: 'VACUUM FULL rewrites the table under an exclusive lock: reads and writes wait until it ends', instead: 'plain VACUUM (no lock), or pg_repack outside the deploy' },
  cluster: { level: 'error', breaking: false, dialects: PG, why: 'CLUSTER rewrites the table under an exclusive lock: reads and writes wait until it ends', instead: 'pg_repack outside the deploy' },
  'lock-table': { level: 'warning', breaking: false, dialects: PG, why: 'an explicit LOCK holds the application off for the rest of the migration', instead: 'rely on the locks each statement takes, and keep the migration short' },
  'enum-value-used': { level: 'warning', breaking: false, dialects: PG, why: 'a new enum value cannot be used in the transaction that adds it, so the migration runs without a transaction: a failure half-way leaves part of it applied', instead: 'add the value in one migration and use it in the next one' },
  'sqlite-table-rebuild': { level: 'warning', breaking: false, dialects: ['sqlite'], why: 'SQLite copies the whole table into a new one (Prisma’s redefine) while it holds the write lock', instead: 'fine for small tables; for a large one, schedule the deploy or change the schema so that SQLite can ALTER in place (ADD COLUMN)' },
  'update-without-where': { level: 'warning', breaking: false, dialects: BOTH, why: 'it rewrites every row in one transaction, holding their locks until the end', instead: 'add a WHERE, or backfill in batches outside the migration' },
  'delete-without-where': { level: 'warning', breaking: false, dialects: BOTH, why: 'it deletes every row of the table', instead: 'add a WHERE; to empty a table on purpose say so with lint:allow' },
  truncate: { level: 'error', breaking: true, dialects: PG, why: 'TRUNCATE deletes every row of the table (and of the tables it CASCADEs to) under an exclusive lock', instead: 'DELETE … WHERE in batches; to empty a table on purpose say so with lint:allow' },
  'drop-schema': { level: 'error', breaking: true, dialects: PG, why: 'DROP SCHEMA drops every table, view and function in it (CASCADE) that the running release may use', instead: 'drop what is in it one release at a time, each after the code stopped using it' },
  'drop-view': { level: 'warning', breaking: false, dialects: BOTH, why: 'the running release may still read this view (Prisma reads one through a view model or a raw query), and the migration does not create it again', instead: 'stop reading the view in one release, drop it in a later one; to change it, CREATE OR REPLACE VIEW (or drop and create it in the same migration)' },
  'set-schema': { level: 'error', breaking: true, dialects: PG, why: 'the running release still finds the object under its old schema', instead: 'expand/contract: create it in the new schema, write both, switch reads, then drop the old one in a later release' },
  'lock-timeout-off': { level: 'warning', breaking: false, dialects: PG, why: "it switches off the deploy's lock timeout (MIGRATION_DDL_LOCK_TIMEOUT): a statement stuck behind a long transaction then holds every query on the table behind it", instead: "SET lock_timeout to a duration (e.g. SET lock_timeout = '10s'), or leave the deploy's" },
  'byte-order-mark': { level: 'warning', breaking: false, dialects: BOTH, why: 'the file starts with a byte-order mark, which the linter stripped before reading; PostgreSQL reads it as part of the first statement', instead: 'save migration.sql as UTF-8 without a byte-order mark' },
  review: { level: 'warning', breaking: false, dialects: BOTH, why: 'no rule of the linter covers this kind of statement, so nothing checked it', instead: 'review it by hand for locks and for what the running release reads; lint:allow review <why it is safe>' },
  unreadable: { level: 'warning', breaking: false, dialects: BOTH, why: 'the linter could not read this statement, so no rule checked it', instead: 'review it by hand' },
} satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

/**
 * Rules whose cost grows with the table: the runner weighs their table (rows, size) when
 * it can reach the database; LARGE ones are errors above LINT_LARGE_TABLE_ROWS.
 */
export const SIZED = new Set<RuleId>(['index-not-concurrent', 'volatile-default', 'change-type', 'set-not-null', 'foreign-key-not-valid', 'check-not-valid', 'unique-on-existing', 'not-null-without-default', 'sqlite-table-rebuild']);
/** A blocking index build or table rewrite: a warning on a small table, an error on a large one. */
export const LARGE = new Set<RuleId>(['index-not-concurrent', 'volatile-default', 'sqlite-table-rebuild']);

/** The table a statement works on: CREATE INDEX … ON t, ALTER TABLE t. */
function statementTable(tokens: Token[]): string | undefined {
  if (startsWith(tokens, 'ALTER', 'TABLE')) {
    let k = 2;
    if (wordsAt(tokens, k, 'IF', 'EXISTS')) k += 2;
    if (wordsAt(tokens, k, 'ONLY')) k++;
    return nameAt(tokens, k)?.name;
  }
  return indexStatement(tokens)?.table;
}

export interface Hit {
  rule: RuleId;
  statement: Statement;
  /** The table the statement costs on (a SQLite rebuild's copy, an index build, a rewrite): the runner weighs it. */
  table?: string;
}

/** Functions whose default makes PostgreSQL compute a value per row (a table rewrite). */
const VOLATILE = new Set(['RANDOM', 'GEN_RANDOM_UUID', 'UUID_GENERATE_V4', 'UUID_GENERATE_V1', 'CLOCK_TIMESTAMP', 'TIMEOFDAY', 'NEXTVAL', 'TXID_CURRENT']);
const SERIAL = new Set(['SERIAL', 'BIGSERIAL', 'SMALLSERIAL', 'SERIAL4', 'SERIAL8', 'SERIAL2']);

/** Every rule hit of one migration script. */
export function checkScript(script: string, dialect: Provider, keys: UniqueKeys = new UniqueKeys()): Hit[] {
  const hits: Hit[] = [];
  const bom = script.charCodeAt(0) === 0xfeff;
  const statements = [...scanStatements(bom ? script.slice(1) : script, dialect)];
  if (bom && statements[0]) hits.push({ rule: 'byte-order-mark', statement: statements[0] });
  /** Tables this migration created, before the current statement: no rows, no release reads them. */
  const created = new Set<string>();
  const rebuilt = dialect === 'sqlite' ? sqliteRebuilds(statements) : new Map<string, Statement>();
  const added = new Map<string, string>();
  const views = createdViews(statements);
  const context: Context = { created, rebuilt, added, views, keys };
  for (const statement of statements) {
    try {
      keys.noteFreshColumns(statement);
      const rules = statementRules(statement, dialect, context);
      if (dialect === 'postgresql' && !rules.includes('enum-value-used') && addedEnumValue(statement.tokens) === null && usesAddedValue(statement.tokens, context)) rules.push('enum-value-used');
      for (const rule of rules) {
        const table = rule === 'sqlite-table-rebuild' ? rebuiltTable(statement) : SIZED.has(rule) ? statementTable(statement.tokens) : undefined;
        hits.push({ rule, statement, ...(table ? { table } : {}) });
      }
    } catch {
      hits.push({ rule: 'unreadable', statement });
    }
    keys.learn(statement);
  }
  keys.endMigration();
  return hits;
}

interface Context {
  created: Set<string>;
  /** SQLite: the tables Prisma redefines, by name (`X` for `new_X`). */
  rebuilt: Map<string, Statement>;
  /** Enum labels added so far and not yet committed, with their type (PostgreSQL). */
  added: Map<string, string>;
  /** Views the migration creates (or replaces), anywhere in it. */
  views: Set<string>;
  /** What the history made unique so far. */
  keys: UniqueKeys;
}

function statementRules(statement: Statement, dialect: Provider, context: Context): RuleId[] {
  const { tokens } = statement;
  const pg = dialect === 'postgresql';
  const existing = (table: string | undefined) => table !== undefined && !context.created.has(table);
  if (startsWith(tokens, 'CREATE', 'TABLE') || startsWith(tokens, 'CREATE', 'UNLOGGED', 'TABLE')) {
    const at = findWord(tokens, 'TABLE') + 1;
    const name = nameAt(tokens, wordsAt(tokens, at, 'IF', 'NOT', 'EXISTS') ? at + 3 : at);
    if (name && rebuildSource(name.name, context)) return ['sqlite-table-rebuild'];
    if (name) context.created.add(name.name);
    return [];
  }
  if (startsWith(tokens, 'DROP', 'TABLE')) {
    const names = nameList(tokens, wordsAt(tokens, 2, 'IF', 'EXISTS') ? 4 : 2);
    return names.some((n) => existing(n) && !context.rebuilt.has(n)) ? ['drop-table'] : [];
  }
  if (startsWith(tokens, 'ALTER', 'TABLE')) return alterTable(tokens, pg, context, existing);
  const index = indexStatement(tokens);
  if (index) {
    const rules: RuleId[] = [];
    // A SQLite redefine re-creates the table's indexes, new and old alike: its PostgreSQL twin tells them apart.
    if (index.unique && existing(index.table) && !context.rebuilt.has(index.table ?? '') && !context.keys.alreadyUnique(index.table ?? '', index.columns)) rules.push('unique-on-existing');
    if (pg && !index.concurrently && existing(index.table)) rules.push('index-not-concurrent');
    return rules;
  }
  if (pg && startsWith(tokens, 'DROP', 'INDEX')) return findWord(tokens, 'CONCURRENTLY') === -1 ? ['index-not-concurrent'] : [];
  if (pg && startsWith(tokens, 'ALTER', 'TYPE')) {
    const value = addedEnumValue(tokens);
    const name = nameAt(tokens, 2);
    if (value !== null) {
      context.added.set(value, name?.name ?? '');
      return [];
    }
    if (name && wordsAt(tokens, name.next, 'SET', 'SCHEMA')) return ['set-schema'];
    return name && (wordsAt(tokens, name.next, 'RENAME') || wordsAt(tokens, name.next, 'DROP')) ? ['enum-change'] : [];
  }
  if (pg && startsWith(tokens, 'DROP', 'TYPE')) return ['enum-change'];
  if (pg && startsWith(tokens, 'VACUUM') && (wordsAt(tokens, 1, 'FULL') || wordsAt(tokens, 2, 'FULL'))) return ['vacuum-full'];
  if (pg && startsWith(tokens, 'CLUSTER')) return ['cluster'];
  if (pg && startsWith(tokens, 'LOCK')) return ['lock-table'];
  if (pg && startsWith(tokens, 'TRUNCATE')) return ['truncate'];
  if (pg && startsWith(tokens, 'DROP', 'SCHEMA')) return ['drop-schema'];
  const views = droppedViews(tokens);
  if (views) return views.some((view) => !context.views.has(view)) ? ['drop-view'] : [];
  if (pg && startsWith(tokens, 'ALTER') && setSchemaAt(tokens) !== -1) return ['set-schema'];
  if (pg && (startsWith(tokens, 'SET') || startsWith(tokens, 'RESET'))) return lockTimeoutOff(tokens) ? ['lock-timeout-off'] : [];
  const control = transactionControl(tokens);
  if (control) {
    // Committed, an added enum value can be used.
    if (control === 'commit') context.added.clear();
    return [];
  }
  const changes = dataChanges(tokens);
  if (changes) {
    const rules = new Set<RuleId>();
    for (const change of changes) if (!change.where) rules.add(change.kind === 'UPDATE' ? 'update-without-where' : 'delete-without-where');
    // In a query, the label is compared with or written to a column: of the enum type, as likely as not.
    if (pg && tokens.some((t) => t.kind === 'string' && context.added.has(t.value))) rules.add('enum-value-used');
    return [...rules];
  }
  return isPassive(tokens, dialect) ? [] : ['review'];
}

/**
 * Outside a query, a label is a use of the enum value only where its type is named: a
 * cast ('v'::"Role"), or a column of that type with it as default (ADD COLUMN "r"
 * "Role" DEFAULT 'v'). The same text as a trigger argument or a text default is not.
 */
function usesAddedValue(tokens: Token[], context: Context): boolean {
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k] as Token;
    if (token.kind !== 'string' || !context.added.has(token.value)) continue;
    const type = context.added.get(token.value);
    const named = (t: Token | undefined) => t !== undefined && (t.kind === 'quoted' ? t.value : t.kind === 'word' ? t.value.toLowerCase() : undefined) === type;
    if (tokens[k + 1]?.value === '::' && named(tokens[k + 2])) return true;
    if (tokens.some(named)) return true;
  }
  return false;
}

/** Statements no rule needs: they add, describe, grant or control, and hold no lock a release waits on for long. */
const PASSIVE: { dialects: readonly Provider[]; words: string[] }[] = [
  ...[['BEGIN'], ['START', 'TRANSACTION'], ['COMMIT'], ['END'], ['ROLLBACK'], ['SAVEPOINT'], ['RELEASE'], ['CREATE', 'VIEW'], ['CREATE', 'TEMP'], ['CREATE', 'TEMPORARY'], ['CREATE', 'TRIGGER'], ['DROP', 'TRIGGER'], ['DROP', 'INDEX'], ['ANALYZE'], ['VACUUM']].map((words) => ({ dialects: BOTH, words })),
  ...[['PRAGMA'], ['CREATE', 'VIRTUAL', 'TABLE']].map((words) => ({ dialects: ['sqlite'] as const, words })),
  ...[
    ['CREATE', 'TYPE'], ['CREATE', 'DOMAIN'], ['CREATE', 'EXTENSION'], ['CREATE', 'SCHEMA'], ['CREATE', 'SEQUENCE'], ['CREATE', 'FUNCTION'], ['CREATE', 'PROCEDURE'],
    ['CREATE', 'OR', 'REPLACE'], ['CREATE', 'MATERIALIZED', 'VIEW'], ['CREATE', 'POLICY'], ['CREATE', 'STATISTICS'], ['CREATE', 'COLLATION'], ['CREATE', 'PUBLICATION'],
    ['CREATE', 'CONSTRAINT', 'TRIGGER'], ['CREATE', 'ROLE'], ['CREATE', 'CAST'], ['CREATE', 'AGGREGATE'], ['CREATE', 'OPERATOR'], ['CREATE', 'UNLOGGED', 'TABLE'],
    ['ALTER', 'SEQUENCE'], ['ALTER', 'INDEX'], ['ALTER', 'FUNCTION'], ['ALTER', 'PROCEDURE'], ['ALTER', 'PUBLICATION'], ['ALTER', 'EXTENSION'], ['ALTER', 'POLICY'],
    ['ALTER', 'DEFAULT', 'PRIVILEGES'], ['ALTER', 'ROLE'], ['ALTER', 'SCHEMA'], ['ALTER', 'VIEW'], ['ALTER', 'MATERIALIZED', 'VIEW'], ['ALTER', 'STATISTICS'],
    ['DROP', 'FUNCTION'], ['DROP', 'PROCEDURE'], ['DROP', 'SEQUENCE'], ['DROP', 'POLICY'], ['DROP', 'EXTENSION'], ['DROP', 'STATISTICS'], ['DROP', 'DOMAIN'], ['DROP', 'PUBLICATION'],
    ['DROP', 'AGGREGATE'], ['DROP', 'CAST'], ['DROP', 'ROLE'], ['COMMENT', 'ON'], ['GRANT'], ['REVOKE'], ['REFRESH', 'MATERIALIZED', 'VIEW', 'CONCURRENTLY'], ['SECURITY', 'LABEL'], ['NOTIFY'],
  ].map((words) => ({ dialects: PG, words })),
];

function isPassive(tokens: Token[], dialect: Provider): boolean {
  return PASSIVE.some((kind) => kind.dialects.includes(dialect) && startsWith(tokens, ...kind.words));
}

/** `DROP [MATERIALIZED] VIEW [IF EXISTS] a, b`: the views, else null. */
function droppedViews(tokens: Token[]): string[] | null {
  const at = startsWith(tokens, 'DROP', 'VIEW') ? 2 : startsWith(tokens, 'DROP', 'MATERIALIZED', 'VIEW') ? 3 : -1;
  if (at < 0) return null;
  return nameList(tokens, wordsAt(tokens, at, 'IF', 'EXISTS') ? at + 2 : at);
}

/** The views a migration creates or replaces: dropping one of them first is a re-creation, not a removal. */
function createdViews(statements: Statement[]): Set<string> {
  const views = new Set<string>();
  for (const { tokens } of statements) {
    let k = startsWith(tokens, 'CREATE', 'OR', 'REPLACE') ? 3 : startsWith(tokens, 'CREATE') ? 1 : -1;
    if (k < 0) continue;
    if (wordsAt(tokens, k, 'TEMP') || wordsAt(tokens, k, 'TEMPORARY') || wordsAt(tokens, k, 'RECURSIVE')) k++;
    if (wordsAt(tokens, k, 'MATERIALIZED')) k++;
    if (!wordsAt(tokens, k, 'VIEW')) continue;
    k++;
    if (wordsAt(tokens, k, 'IF', 'NOT', 'EXISTS')) k += 3;
    const name = nameAt(tokens, k);
    if (name) views.add(name.name);
  }
  return views;
}

/** The index of `SET SCHEMA` in an ALTER statement, or -1. */
function setSchemaAt(tokens: Token[]): number {
  for (let k = 1; k < tokens.length - 1; k++) if (wordsAt(tokens, k, 'SET', 'SCHEMA')) return k;
  return -1;
}

/** `SET [SESSION|LOCAL] lock_timeout = 0 | DEFAULT`, `RESET lock_timeout`, `RESET ALL`: the deploy's lock timeout gone. */
function lockTimeoutOff(tokens: Token[]): boolean {
  if (startsWith(tokens, 'RESET')) return wordsAt(tokens, 1, 'ALL') || wordsAt(tokens, 1, 'LOCK_TIMEOUT');
  const at = wordsAt(tokens, 1, 'SESSION') || wordsAt(tokens, 1, 'LOCAL') ? 2 : 1;
  if (!wordsAt(tokens, at, 'LOCK_TIMEOUT')) return false;
  const value = tokens[at + 2];
  if (!value) return false;
  if (value.kind === 'word') return value.value === 'DEFAULT';
  return (value.kind === 'number' || value.kind === 'string') && /^0+(\.0*)?\s*(ms|s|min|h|d)?$/i.test(value.value.trim());
}

/**
 * The UPDATEs and DELETEs of a query, its own and those of its WITH clauses, each with
 * whether a WHERE of its own bounds it (a WHERE inside a subquery does not); null when
 * the statement is not a query.
 */
function dataChanges(tokens: Token[]): { kind: 'UPDATE' | 'DELETE'; where: boolean }[] | null {
  const first = tokens[0];
  if (first?.kind !== 'word' || !['UPDATE', 'DELETE', 'INSERT', 'SELECT', 'WITH', 'MERGE', 'VALUES'].includes(first.value)) return null;
  const depth: number[] = [];
  let d = 0;
  for (const token of tokens) {
    if (token.kind === 'symbol' && token.value === ')') d--;
    depth.push(d);
    if (token.kind === 'symbol' && token.value === '(') d++;
  }
  const changes: { kind: 'UPDATE' | 'DELETE'; where: boolean }[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k] as Token;
    if (token.kind !== 'word' || (token.value !== 'UPDATE' && token.value !== 'DELETE')) continue;
    // A statement of its own: the first word, or the first inside a parenthesis (a WITH clause).
    if (k > 0 && !(tokens[k - 1]?.kind === 'symbol' && tokens[k - 1]?.value === '(')) continue;
    let where = false;
    for (let j = k + 1; j < tokens.length && depth[j]! >= depth[k]!; j++) {
      if (depth[j] === depth[k] && tokens[j]?.kind === 'word' && tokens[j]?.value === 'WHERE') {
        where = true;
        break;
      }
    }
    changes.push({ kind: token.value, where });
  }
  return changes;
}

/** ALTER TABLE actions that change only what the catalog says: no rewrite, no scan, a short lock. */
const PASSIVE_ACTIONS = [['DROP', 'CONSTRAINT'], ['RENAME', 'CONSTRAINT'], ['VALIDATE', 'CONSTRAINT'], ['ENABLE'], ['DISABLE'], ['FORCE'], ['NO', 'FORCE'], ['OWNER', 'TO'], ['REPLICA', 'IDENTITY'], ['CLUSTER', 'ON'], ['SET', 'WITHOUT', 'CLUSTER'], ['ALTER', 'CONSTRAINT']];

/** `ALTER TABLE [IF EXISTS] [ONLY] t action, action …`: each action on its own. */
function alterTable(tokens: Token[], pg: boolean, context: Context, existing: (table: string | undefined) => boolean): RuleId[] {
  let k = 2;
  if (wordsAt(tokens, k, 'IF', 'EXISTS')) k += 2;
  if (wordsAt(tokens, k, 'ONLY')) k++;
  const table = nameAt(tokens, k);
  if (!table) throw new Error('no table name');
  // SQLite's redefine ends with ALTER TABLE "new_X" RENAME TO "X": the table keeps its name.
  if (context.rebuilt.has(table.name.replace(/^new_/, '')) && /^new_/.test(table.name)) return [];
  if (!existing(table.name)) return [];
  const rules = new Set<RuleId>();
  for (const action of alterActions(tokens, table.next)) {
    const word = (i: number) => (action[i]?.kind === 'word' ? (action[i] as Token).value : undefined);
    if (word(0) === 'DROP' && word(1) !== 'CONSTRAINT') rules.add('drop-column');
    else if (word(0) === 'RENAME' && word(1) !== 'CONSTRAINT') rules.add('rename');
    else if (word(0) === 'ALTER') {
      const at = word(1) === 'COLUMN' ? 3 : 2;
      if (wordsAt(action, at, 'TYPE') || wordsAt(action, at, 'SET', 'DATA', 'TYPE')) rules.add('change-type');
      if (wordsAt(action, at, 'SET', 'NOT', 'NULL')) rules.add('set-not-null');
    } else if (word(0) === 'ADD') addAction(action, pg, rules, (columns) => context.keys.alreadyUnique(table.name, columns));
    else if (wordsAt(action, 0, 'SET', 'SCHEMA')) rules.add('set-schema');
    else if (!PASSIVE_ACTIONS.some((words) => wordsAt(action, 0, ...words))) rules.add('review');
  }
  return [...rules];
}

function addAction(action: Token[], pg: boolean, rules: Set<RuleId>, alreadyUnique: (columns: string[] | null) => boolean): void {
  const word = (i: number) => (action[i]?.kind === 'word' ? (action[i] as Token).value : undefined);
  const constraint = word(1) === 'CONSTRAINT' ? 3 : 1;
  const kind = word(constraint);
  const notValid = action.some((t, i) => t.kind === 'word' && t.value === 'NOT' && action[i + 1]?.value === 'VALID');
  if (kind === 'FOREIGN' || (word(1) === 'CONSTRAINT' && findWord(action, 'REFERENCES') !== -1 && kind !== 'CHECK')) {
    if (pg && !notValid) rules.add('foreign-key-not-valid');
    return;
  }
  if (kind === 'CHECK') {
    if (pg && !notValid) rules.add('check-not-valid');
    return;
  }
  if (kind === 'UNIQUE' || kind === 'PRIMARY' || kind === 'EXCLUDE') {
    const open = constraint + (kind === 'PRIMARY' ? 2 : 1);
    // USING INDEX attaches an index already built (and unique): nothing is scanned.
    if (kind !== 'EXCLUDE' && (wordsAt(action, open, 'USING', 'INDEX') || alreadyUnique(columnList(action, open)))) return;
    rules.add('unique-on-existing');
    return;
  }
  // ADD [COLUMN] [IF NOT EXISTS] name type …
  let at = word(1) === 'COLUMN' ? 2 : 1;
  if (wordsAt(action, at, 'IF', 'NOT', 'EXISTS')) at += 3;
  const defaultAt = findWord(action, 'DEFAULT', at);
  const notNull = action.some((t, i) => i > at && t.kind === 'word' && t.value === 'NOT' && action[i + 1]?.value === 'NULL');
  const generated = findWord(action, 'GENERATED', at) !== -1;
  const serial = SERIAL.has(word(at + 1) ?? '');
  if (notNull && defaultAt === -1 && !generated && !serial) rules.add('not-null-without-default');
  if (pg && (serial || (defaultAt !== -1 && action.slice(defaultAt).some((t) => t.kind === 'word' && VOLATILE.has(t.value))))) rules.add('volatile-default');
}

/** `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] table`. */
function indexStatement(tokens: Token[]): { unique: boolean; concurrently: boolean; table: string | undefined; columns: string[] | null } | null {
  const unique = startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX');
  if (!unique && !startsWith(tokens, 'CREATE', 'INDEX')) return null;
  const on = findWord(tokens, 'ON');
  if (on === -1) throw new Error('no ON');
  const table = nameAt(tokens, wordsAt(tokens, on + 1, 'ONLY') ? on + 2 : on + 1);
  const open = table && wordsAt(tokens, table.next, 'USING') ? table.next + 2 : (table?.next ?? -1);
  return { unique, concurrently: findWord(tokens, 'CONCURRENTLY') !== -1 && findWord(tokens, 'CONCURRENTLY') < on, table: table?.name, columns: columnList(tokens, open) };
}

/**
 * SQLite's redefine as Prisma writes it: CREATE TABLE "new_X" …; INSERT INTO "new_X" …
 * SELECT … FROM "X"; DROP TABLE "X"; ALTER TABLE "new_X" RENAME TO "X". The tables so
 * redefined (X), by name, with the CREATE that starts it.
 */
function sqliteRebuilds(statements: Statement[]): Map<string, Statement> {
  const creates = new Map<string, Statement>();
  const rebuilt = new Map<string, Statement>();
  for (const statement of statements) {
    const { tokens } = statement;
    if (startsWith(tokens, 'CREATE', 'TABLE')) {
      const name = nameAt(tokens, 2);
      if (name && /^new_/.test(name.name)) creates.set(name.name.slice(4), statement);
    } else if (startsWith(tokens, 'ALTER', 'TABLE')) {
      const from = nameAt(tokens, 2);
      const to = from && wordsAt(tokens, from.next, 'RENAME', 'TO') ? nameAt(tokens, from.next + 2) : null;
      const create = to ? creates.get(to.name) : undefined;
      if (from && to && create && from.name === `new_${to.name}`) rebuilt.set(to.name, create);
    }
  }
  return rebuilt;
}

function rebuildSource(name: string, context: Context): boolean {
  return /^new_/.test(name) && context.rebuilt.get(name.slice(4)) !== undefined;
}

function rebuiltTable(statement: Statement): string {
  return (nameAt(statement.tokens, 2)?.name ?? '').replace(/^new_/, '');
}
