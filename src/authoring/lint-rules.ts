/**
 * The zero-downtime rules: what in a migration breaks the release still running
 * beside it (it reads the old schema until the new one replaces it), what takes a
 * lock that stalls the application on PostgreSQL, what rewrites a SQLite table, what
 * touches every row. Each rule reads one statement's tokens (sql-script.ts), knowing
 * which tables the migration itself created before it: those hold no rows yet and no
 * release reads them.
 */
import type { Provider } from '../db.ts';
import { addedEnumValue, alterActions, findWord, nameAt, scanStatements, startsWith, wordsAt, type Statement, type Token } from '../runtime/sql-script.ts';

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
  unreadable: { level: 'warning', breaking: false, dialects: BOTH, why: 'the linter could not read this statement, so no rule checked it', instead: 'review it by hand' },
} satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

export interface Hit {
  rule: RuleId;
  statement: Statement;
  /** The table a SQLite rebuild copies: the runner counts its rows. */
  table?: string;
}

/** Functions whose default makes PostgreSQL compute a value per row (a table rewrite). */
const VOLATILE = new Set(['RANDOM', 'GEN_RANDOM_UUID', 'UUID_GENERATE_V4', 'UUID_GENERATE_V1', 'CLOCK_TIMESTAMP', 'TIMEOFDAY', 'NEXTVAL', 'TXID_CURRENT']);
const SERIAL = new Set(['SERIAL', 'BIGSERIAL', 'SMALLSERIAL', 'SERIAL4', 'SERIAL8', 'SERIAL2']);

/** Every rule hit of one migration script. */
export function checkScript(script: string, dialect: Provider): Hit[] {
  const statements = [...scanStatements(script, dialect)];
  const hits: Hit[] = [];
  /** Tables this migration created, before the current statement: no rows, no release reads them. */
  const created = new Set<string>();
  const rebuilt = dialect === 'sqlite' ? sqliteRebuilds(statements) : new Map<string, Statement>();
  const added = new Set<string>();
  for (const statement of statements) {
    try {
      for (const rule of statementRules(statement, dialect, { created, rebuilt, added })) hits.push({ rule, statement, ...(rule === 'sqlite-table-rebuild' ? { table: rebuiltTable(statement) } : {}) });
    } catch {
      hits.push({ rule: 'unreadable', statement });
    }
  }
  return hits;
}

interface Context {
  created: Set<string>;
  /** SQLite: the tables Prisma redefines, by name (`X` for `new_X`). */
  rebuilt: Map<string, Statement>;
  /** Enum labels added so far (PostgreSQL). */
  added: Set<string>;
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
    const names = namesAfter(tokens, wordsAt(tokens, 2, 'IF', 'EXISTS') ? 4 : 2);
    return names.some((n) => existing(n) && !context.rebuilt.has(n)) ? ['drop-table'] : [];
  }
  if (startsWith(tokens, 'ALTER', 'TABLE')) return alterTable(tokens, pg, context, existing);
  const index = indexStatement(tokens);
  if (index) {
    const rules: RuleId[] = [];
    // A SQLite redefine re-creates the table's indexes, new and old alike: its PostgreSQL twin tells them apart.
    if (index.unique && existing(index.table) && !context.rebuilt.has(index.table ?? '')) rules.push('unique-on-existing');
    if (pg && !index.concurrently && existing(index.table)) rules.push('index-not-concurrent');
    return rules;
  }
  if (pg && startsWith(tokens, 'DROP', 'INDEX')) return findWord(tokens, 'CONCURRENTLY') === -1 ? ['index-not-concurrent'] : [];
  if (pg && startsWith(tokens, 'ALTER', 'TYPE')) {
    const value = addedEnumValue(tokens);
    if (value !== null) {
      context.added.add(value);
      return [];
    }
    const name = nameAt(tokens, 2);
    return name && (wordsAt(tokens, name.next, 'RENAME') || wordsAt(tokens, name.next, 'DROP')) ? ['enum-change'] : [];
  }
  if (pg && startsWith(tokens, 'DROP', 'TYPE')) return ['enum-change'];
  if (pg && startsWith(tokens, 'VACUUM') && (wordsAt(tokens, 1, 'FULL') || wordsAt(tokens, 2, 'FULL'))) return ['vacuum-full'];
  if (pg && startsWith(tokens, 'CLUSTER')) return ['cluster'];
  if (pg && startsWith(tokens, 'LOCK')) return ['lock-table'];
  const rules: RuleId[] = [];
  if (pg && context.added.size && tokens.some((t) => t.kind === 'string' && context.added.has(t.value))) rules.push('enum-value-used');
  if (startsWith(tokens, 'UPDATE') && findWord(tokens, 'WHERE') === -1) rules.push('update-without-where');
  if (startsWith(tokens, 'DELETE') && findWord(tokens, 'WHERE') === -1) rules.push('delete-without-where');
  return rules;
}

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
    } else if (word(0) === 'ADD') addAction(action, pg, rules);
  }
  return [...rules];
}

function addAction(action: Token[], pg: boolean, rules: Set<RuleId>): void {
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
function indexStatement(tokens: Token[]): { unique: boolean; concurrently: boolean; table: string | undefined } | null {
  const unique = startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX');
  if (!unique && !startsWith(tokens, 'CREATE', 'INDEX')) return null;
  const on = findWord(tokens, 'ON');
  if (on === -1) throw new Error('no ON');
  return { unique, concurrently: findWord(tokens, 'CONCURRENTLY') !== -1 && findWord(tokens, 'CONCURRENTLY') < on, table: nameAt(tokens, wordsAt(tokens, on + 1, 'ONLY') ? on + 2 : on + 1)?.name };
}

function namesAfter(tokens: Token[], from: number): string[] {
  const names: string[] = [];
  let k = from;
  for (;;) {
    const name = nameAt(tokens, k);
    if (!name) return names;
    names.push(name.name);
    if (tokens[name.next]?.value !== ',') return names;
    k = name.next + 1;
  }
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
