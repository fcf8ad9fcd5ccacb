/**
 * What the migrations before a statement made unique: per table, the column sets of
 * its primary key, unique constraints and (whole, not partial) unique indexes, read
 * from the history in order. The linter asks it whether a new unique key can fail on
 * rows already there: not when its columns include a key already unique (a unique
 * index over the primary key, Prisma 6's `_AB_pkey` over the old `_AB_AB_unique` or
 * any key over ("A", "B") of an implicit many-to-many table, Prisma 3's index renames),
 * nor when one of them was added in this migration with
 * values that cannot repeat (serial, identity, a fresh uuid, or NULL everywhere).
 */
import { alterActions, findWord, nameAt, nameList, startsWith, wordsAt, type Statement, type Token } from '../runtime/sql-script.ts';

export class UniqueKeys {
  /** table -> its unique keys, each the sorted column names joined by a comma. */
  private readonly keys = new Map<string, Set<string>>();
  /** index or constraint name -> the table and key it holds. */
  private readonly named = new Map<string, { table: string; key: string }>();
  /** Columns the current migration added whose values cannot repeat: table -> columns. */
  private fresh = new Map<string, Set<string>>();
  /** Named keys the current migration drops: gone only once it is over (until then, they were unique before it). */
  private dropped: string[] = [];

  /** True when a unique key over `columns` of `table` cannot meet duplicates already there. */
  alreadyUnique(table: string, columns: string[] | null): boolean {
    if (!columns?.length) return false;
    if (columns.some((column) => this.fresh.get(table)?.has(column))) return true;
    // Prisma's implicit many-to-many table (_AToB): connect writes each pair once.
    if (table.startsWith('_') && [...columns].sort().join(',') === 'A,B') return true;
    const wanted = new Set(columns);
    return [...(this.keys.get(table) ?? [])].some((key) => key.split(',').every((column) => wanted.has(column)));
  }

  /** Learn what one statement makes unique (or no longer unique). */
  learn(statement: Statement): void {
    const { tokens } = statement;
    if (startsWith(tokens, 'CREATE', 'TABLE') || startsWith(tokens, 'CREATE', 'UNLOGGED', 'TABLE')) return this.createTable(tokens);
    if (startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX')) return this.createIndex(tokens);
    if (startsWith(tokens, 'DROP', 'INDEX')) {
      let k = 2;
      if (wordsAt(tokens, k, 'CONCURRENTLY')) k++;
      if (wordsAt(tokens, k, 'IF', 'EXISTS')) k += 2;
      for (const name of nameList(tokens, k)) this.dropped.push(name);
      return;
    }
    if (startsWith(tokens, 'ALTER', 'INDEX')) {
      const k = wordsAt(tokens, 2, 'IF', 'EXISTS') ? 4 : 2;
      const from = nameAt(tokens, k);
      const to = from && wordsAt(tokens, from.next, 'RENAME', 'TO') ? nameAt(tokens, from.next + 2) : null;
      if (from && to) this.rename(from.name, to.name);
      return;
    }
    if (startsWith(tokens, 'DROP', 'TABLE')) {
      for (const table of nameList(tokens, wordsAt(tokens, 2, 'IF', 'EXISTS') ? 4 : 2)) this.keys.delete(table);
      return;
    }
    if (startsWith(tokens, 'ALTER', 'TABLE')) this.alterTable(tokens);
  }

  /** The migration is over: what it dropped is gone, what it added is no longer fresh. */
  endMigration(): void {
    for (const name of this.dropped) {
      const held = this.named.get(name);
      if (!held) continue;
      this.named.delete(name);
      if (![...this.named.values()].some((other) => other.table === held.table && other.key === held.key)) this.keys.get(held.table)?.delete(held.key);
    }
    this.dropped = [];
    this.fresh = new Map();
  }

  private add(table: string, columns: string[] | null, name?: string): void {
    if (!columns?.length) return;
    const key = [...columns].sort().join(',');
    if (!this.keys.has(table)) this.keys.set(table, new Set());
    this.keys.get(table)!.add(key);
    if (name) this.named.set(name, { table, key });
  }

  private rename(from: string, to: string): void {
    const held = this.named.get(from);
    if (!held) return;
    this.named.delete(from);
    this.named.set(to, held);
  }

  private createTable(tokens: Token[]): void {
    let k = findWord(tokens, 'TABLE') + 1;
    if (wordsAt(tokens, k, 'IF', 'NOT', 'EXISTS')) k += 3;
    const table = nameAt(tokens, k);
    if (!table || tokens[table.next]?.value !== '(') return;
    for (const definition of alterActions(tokens.slice(table.next + 1, closing(tokens, table.next)), 0)) {
      const constraint = wordsAt(definition, 0, 'CONSTRAINT') ? nameAt(definition, 1) : null;
      const at = constraint ? constraint.next : 0;
      if (wordsAt(definition, at, 'PRIMARY', 'KEY') || wordsAt(definition, at, 'UNIQUE')) {
        const open = wordsAt(definition, at, 'UNIQUE') ? at + 1 : at + 2;
        this.add(table.name, columnList(definition, open), constraint?.name);
        continue;
      }
      // A column: "id" SERIAL PRIMARY KEY, "email" TEXT UNIQUE.
      const column = nameAt(definition, 0);
      if (column && (findWord(definition, 'PRIMARY') !== -1 || findWord(definition, 'UNIQUE') !== -1)) this.add(table.name, [column.name]);
    }
  }

  private createIndex(tokens: Token[]): void {
    let k = 3;
    if (wordsAt(tokens, k, 'CONCURRENTLY')) k++;
    if (wordsAt(tokens, k, 'IF', 'NOT', 'EXISTS')) k += 3;
    const index = wordsAt(tokens, k, 'ON') ? null : nameAt(tokens, k);
    const on = findWord(tokens, 'ON', k);
    if (on === -1) return;
    let t = on + 1;
    if (wordsAt(tokens, t, 'ONLY')) t++;
    const table = nameAt(tokens, t);
    if (!table) return;
    let open = table.next;
    if (wordsAt(tokens, open, 'USING')) open += 2;
    // A partial index is unique only where its WHERE holds.
    if (findWord(tokens, 'WHERE', open) !== -1) return;
    this.add(table.name, columnList(tokens, open), index?.name);
  }

  private alterTable(tokens: Token[]): void {
    let k = 2;
    if (wordsAt(tokens, k, 'IF', 'EXISTS')) k += 2;
    if (wordsAt(tokens, k, 'ONLY')) k++;
    const table = nameAt(tokens, k);
    if (!table) return;
    for (const action of alterActions(tokens, table.next)) {
      if (wordsAt(action, 0, 'RENAME', 'TO')) {
        const to = nameAt(action, 2);
        if (to && this.keys.has(table.name)) {
          this.keys.set(to.name, this.keys.get(table.name)!);
          this.keys.delete(table.name);
          for (const held of this.named.values()) if (held.table === table.name) held.table = to.name;
        }
      } else if (wordsAt(action, 0, 'RENAME', 'CONSTRAINT')) {
        const from = nameAt(action, 2);
        const to = from && wordsAt(action, from.next, 'TO') ? nameAt(action, from.next + 1) : null;
        if (from && to) this.rename(from.name, to.name);
      } else if (wordsAt(action, 0, 'DROP', 'CONSTRAINT')) {
        const name = nameAt(action, wordsAt(action, 2, 'IF', 'EXISTS') ? 4 : 2);
        if (name) this.dropped.push(name.name);
      } else if (wordsAt(action, 0, 'ADD')) {
        this.addAction(table.name, action);
      }
    }
  }

  private addAction(table: string, action: Token[]): void {
    const constraint = wordsAt(action, 1, 'CONSTRAINT') ? nameAt(action, 2) : null;
    const at = constraint ? constraint.next : 1;
    const primary = wordsAt(action, at, 'PRIMARY', 'KEY');
    if (primary || wordsAt(action, at, 'UNIQUE')) {
      const open = primary ? at + 2 : at + 1;
      // ADD CONSTRAINT c UNIQUE USING INDEX i: the index's key, under the constraint's name.
      if (wordsAt(action, open, 'USING', 'INDEX')) {
        const index = nameAt(action, open + 2);
        const held = index ? this.named.get(index.name) : undefined;
        if (held) this.add(held.table, held.key.split(','), constraint?.name ?? index?.name);
        return;
      }
      this.add(table, columnList(action, open), constraint?.name);
      return;
    }
  }

  /**
   * Before a statement is judged: the columns its ALTER TABLE … ADD [COLUMN] adds whose
   * values cannot repeat, generated per row (serial, identity, a fresh uuid) or absent
   * (NULL everywhere), so that a key over them in the same statement is judged right.
   */
  noteFreshColumns(statement: Statement): void {
    for (const [table, columns] of freshColumns(statement)) {
      if (!this.fresh.has(table)) this.fresh.set(table, new Set());
      for (const column of columns) this.fresh.get(table)!.add(column);
    }
  }
}

/**
 * The columns an ALTER TABLE … ADD [COLUMN] adds whose values cannot repeat: generated
 * per row (serial, identity, a fresh uuid) or absent (NULL everywhere); table -> columns.
 */
export function freshColumns(statement: Statement): Map<string, Set<string>> {
  const fresh = new Map<string, Set<string>>();
  const { tokens } = statement;
  if (!startsWith(tokens, 'ALTER', 'TABLE')) return fresh;
  let k = 2;
  if (wordsAt(tokens, k, 'IF', 'EXISTS')) k += 2;
  if (wordsAt(tokens, k, 'ONLY')) k++;
  const table = nameAt(tokens, k);
  if (!table) return fresh;
  for (const action of alterActions(tokens, table.next)) {
    if (!wordsAt(action, 0, 'ADD') || ['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'FOREIGN', 'CHECK', 'EXCLUDE'].some((word) => wordsAt(action, 1, word))) continue;
    let c = wordsAt(action, 1, 'COLUMN') ? 2 : 1;
    if (wordsAt(action, c, 'IF', 'NOT', 'EXISTS')) c += 3;
    const column = nameAt(action, c);
    if (!column) continue;
    const words = action.slice(column.next).filter((t) => t.kind === 'word').map((t) => t.value);
    const serial = /^(SMALL|BIG)?SERIAL[248]?$/.test(words[0] ?? '');
    const defaultAt = words.indexOf('DEFAULT');
    const perRow = defaultAt !== -1 && ['GEN_RANDOM_UUID', 'UUID_GENERATE_V4', 'NEXTVAL'].includes(words[defaultAt + 1] ?? '');
    const notNull = words.some((word, i) => word === 'NOT' && words[i + 1] === 'NULL');
    if (serial || words.includes('IDENTITY') || perRow || (defaultAt === -1 && !notNull)) {
      if (!fresh.has(table.name)) fresh.set(table.name, new Set());
      fresh.get(table.name)!.add(column.name);
    }
  }
  return fresh;
}

/** The index of the `)` that closes the `(` at `open`. */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    if (tokens[k]!.kind !== 'symbol') continue;
    if (tokens[k]!.value === '(') depth++;
    if (tokens[k]!.value === ')' && --depth === 0) return k;
  }
  return tokens.length;
}

/** `(a, "b" DESC, …)` at `open`: the column names; null when one is an expression. */
export function columnList(tokens: Token[], open: number): string[] | null {
  if (tokens[open]?.value !== '(') return null;
  const columns: string[] = [];
  for (const element of alterActions(tokens.slice(open + 1, closing(tokens, open)), 0)) {
    const column = nameAt(element, 0);
    if (!column || element.slice(column.next).some((t) => t.kind === 'symbol')) return null;
    columns.push(column.name);
  }
  return columns;
}
