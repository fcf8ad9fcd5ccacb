/**
 * Just enough SQL lexing to find statement boundaries: a `;` inside a comment,
 * a quoted string, a quoted identifier or a dollar-quoted body is not one.
 */

/** Split a script into statements, dropping those that are only comments or blank. */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  /** Inside `BEGIN ATOMIC … END` (a SQL-standard function body, PostgreSQL 14+): `;` does not end the statement. */
  let atomic = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i];
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (script[i] === '/' && script[i + 1] === '*') (depth++, (i += 2));
        else if (script[i] === '*' && script[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === "'" || c === '"' || c === '`') {
      const escapes = c === "'" && /[eE]/.test(script[i - 1] ?? '') && !/\w/.test(script[i - 2] ?? '');
      i++;
      while (i < n) {
        if (escapes && script[i] === '\\') i += 2;
        else if (script[i] === c && script[i + 1] === c) i += 2;
        else if (script[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (tag && !/[\w$]/.test(script[i - 1] ?? '')) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else i++;
    } else if (c === ';' && atomic === 0) {
      statements.push(script.slice(start, i));
      i++;
      start = i;
    } else if (isWordStart(script.charCodeAt(i)) && !isWordPart(script.charCodeAt(i - 1))) {
      // Whole words, as psql reads them: BEGIN ATOMIC opens a body, CASE nests in it, END closes.
      let j = i + 1;
      while (j < n && isWordPart(script.charCodeAt(j))) j++;
      if (j - i === 5 && /^begin$/i.test(script.slice(i, j)) && /^\s+atomic\b/i.test(script.slice(j, j + 40))) atomic++;
      else if (atomic > 0 && j - i === 4 && /^case$/i.test(script.slice(i, j))) atomic++;
      else if (atomic > 0 && j - i === 3 && /^end$/i.test(script.slice(i, j))) atomic--;
      i = j;
    } else i++;
  }
  statements.push(script.slice(start));
  return statements.map((s) => s.trim()).filter((s) => !COMMENTS_ONLY.test(s));
}

/** Blank, or nothing but `--` and `/* *\/` comments. */
const COMMENTS_ONLY = /^(?:\s|--[^\n]*|\/\*[\s\S]*?\*\/)*$/;

/** A letter or `_`: where an identifier or keyword starts. */
function isWordStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code > 127;
}

/** Letters, digits, `_` and `$` continue a word (so `a$b$` is no dollar quote). */
function isWordPart(code: number): boolean {
  return isWordStart(code) || (code >= 48 && code <= 57) || code === 36;
}

/** The statement without comments, whitespace collapsed, upper-cased: for classification only. */
export function normalize(statement: string): string {
  return stripComments(statement).replace(/\s+/g, ' ').trim().toUpperCase();
}

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
}

const TRANSACTION_CONTROL = /^(BEGIN|START TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b/;

const POSTGRES_NO_TRANSACTION: [RegExp, string][] = [
  [/^(CREATE|DROP)( UNIQUE)? INDEX CONCURRENTLY\b/, 'CREATE/DROP INDEX CONCURRENTLY'],
  [/^REINDEX\b.*\bCONCURRENTLY\b/, 'REINDEX CONCURRENTLY'],
  [/^ALTER TABLE\b.*\bDETACH PARTITION\b.*\bCONCURRENTLY\b/, 'DETACH PARTITION CONCURRENTLY'],
  [/^VACUUM\b/, 'VACUUM'],
  [/^(CREATE|DROP) DATABASE\b/, 'CREATE/DROP DATABASE'],
  [/^(CREATE|DROP) TABLESPACE\b/, 'CREATE/DROP TABLESPACE'],
  [/^ALTER SYSTEM\b/, 'ALTER SYSTEM'],
];

const SQLITE_NO_TRANSACTION: [RegExp, string][] = [[/^VACUUM\b/, 'VACUUM']];

export type ScriptMode =
  /** The kit wraps the script and its history row in one transaction. */
  | { kind: 'transactional' }
  /** The script opens and commits its own transactions; it runs as written. */
  | { kind: 'self-managed' }
  /** A statement cannot run inside a transaction; statements run one by one. */
  | { kind: 'no-transaction'; reason: string };

/** `ALTER TYPE "T" ADD VALUE [IF NOT EXISTS] 'v'`: the new label, quotes undoubled. */
const ADD_ENUM_VALUE = /^ALTER\s+TYPE\s[\s\S]*?\sADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'((?:[^']|'')*)'/i;

export function scriptMode(script: string, provider: 'sqlite' | 'postgresql'): ScriptMode {
  const rules = provider === 'postgresql' ? POSTGRES_NO_TRANSACTION : SQLITE_NO_TRANSACTION;
  let mode: ScriptMode = { kind: 'transactional' };
  // PostgreSQL runs ALTER TYPE … ADD VALUE in a transaction, but the new value
  // cannot be used before that transaction commits ("unsafe use of new value"):
  // a script that adds a value and then uses it only works statement by statement.
  const addedValues: string[] = [];
  for (const statement of splitStatements(script)) {
    const code = stripComments(statement).trim();
    const text = code.replace(/\s+/g, ' ').toUpperCase(); // normalize(statement), comments stripped once
    if (TRANSACTION_CONTROL.test(text)) return { kind: 'self-managed' };
    const rule = rules.find(([pattern]) => pattern.test(text));
    if (rule && mode.kind === 'transactional') mode = { kind: 'no-transaction', reason: rule[1] };
    if (provider !== 'postgresql') continue;
    const added = ADD_ENUM_VALUE.exec(code);
    if (added) addedValues.push(`'${added[1]}'`);
    else if (mode.kind === 'transactional' && addedValues.some((literal) => code.includes(literal))) {
      mode = { kind: 'no-transaction', reason: 'ALTER TYPE … ADD VALUE with the new value used in the same migration' };
    }
  }
  return mode;
}

/** A SQL string literal (standard_conforming_strings: only quotes need doubling). */
export function sqlLiteral(value: string | null): string {
  return value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`;
}
