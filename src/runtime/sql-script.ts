/**
 * Just enough SQL lexing to find statement boundaries and classify statements:
 * a `;` inside a comment, a quoted string, a quoted identifier, a dollar-quoted
 * body or a trigger body is not one. One pass, left to right, every character
 * looked at a bounded number of times: the time is linear in the script, so no
 * migration can make the kit spin (classifiers work on the tokens, never with
 * regular expressions over whole statements).
 */
/** The SQL dialects the kit reads: its two providers. */
export type Provider = 'sqlite' | 'postgresql';

export type TokenKind = 'word' | 'quoted' | 'string' | 'dollar' | 'number' | 'param' | 'symbol';

export interface Token {
  kind: TokenKind;
  /** Offsets of the token in the script: `script.slice(start, end)` is its text. */
  start: number;
  end: number;
  /** word: upper-cased; quoted: the identifier; string: the literal's value (quotes undoubled); else the text. */
  value: string;
}

export interface Statement {
  /** From its first token to its last, comments around it and its `;` left out. */
  text: string;
  /** 1-based line of the statement's first token in the script. */
  line: number;
  /** Offset of `text` in the script. */
  start: number;
  tokens: Token[];
}

/** Split a script into statements, dropping those that are only comments or blank. */
export function parseScript(script: string, dialect: Provider = 'postgresql'): Statement[] {
  return [...scanStatements(script, dialect)];
}

/** The statements one at a time: a reader that looks at each once keeps one statement's tokens in memory, not the script's. */
export function* scanStatements(script: string, dialect: Provider = 'postgresql'): Generator<Statement> {
  const postgres = dialect === 'postgresql';
  const n = script.length;
  let tokens: Token[] = [];
  /** Inside `BEGIN ATOMIC … END` (PostgreSQL) or a trigger body `BEGIN … END` (SQLite): `;` does not end the statement. */
  let body = 0;
  let line = 1;
  let lineCountedTo = 0;
  const finish = (): Statement | null => {
    if (tokens.length === 0) return null;
    const start = (tokens[0] as Token).start;
    const end = (tokens[tokens.length - 1] as Token).end;
    for (let k = lineCountedTo; k < start; k++) if (script.charCodeAt(k) === 10) line++;
    lineCountedTo = start;
    const statement = { text: script.slice(start, end), line, start, tokens };
    tokens = [];
    body = 0;
    return statement;
  };
  const push = (kind: TokenKind, start: number, end: number, value: string) => tokens.push({ kind, start, end, value });

  let i = 0;
  while (i < n) {
    const c = script.charCodeAt(i);
    const next = script.charCodeAt(i + 1);
    if (c <= 32) {
      i++;
    } else if (c === DASH && next === DASH) {
      // PostgreSQL ends a `--` comment at a carriage return too; SQLite only at a newline.
      i += 2;
      while (i < n && script.charCodeAt(i) !== NEWLINE && !(postgres && script.charCodeAt(i) === RETURN)) i++;
    } else if (c === SLASH && next === STAR) {
      i = skipBlockComment(script, i, postgres);
    } else if (c === QUOTE) {
      const end = skipQuoted(script, i, QUOTE, false);
      push('string', i, end, undouble(script, i, end, "'"));
      i = end;
    } else if (c === DOUBLE_QUOTE || (!postgres && c === BACKTICK)) {
      const end = skipQuoted(script, i, c, false);
      push('quoted', i, end, undouble(script, i, end, String.fromCharCode(c)));
      i = end;
    } else if (!postgres && c === OPEN_BRACKET) {
      const close = script.indexOf(']', i + 1);
      const end = close === -1 ? n : close + 1;
      push('quoted', i, end, script.slice(i + 1, close === -1 ? n : close));
      i = end;
    } else if (c === DOLLAR && postgres && (isWordStart(next) || next === DOLLAR)) {
      // $tag$ … $tag$ (the tag is an identifier without `$`); `$1` is a parameter.
      let j = i + 1;
      while (j < n && (isWordStart(script.charCodeAt(j)) || (j > i + 1 && isDigit(script.charCodeAt(j))))) j++;
      if (script.charCodeAt(j) === DOLLAR) {
        const tag = script.slice(i, j + 1);
        const close = script.indexOf(tag, j + 1);
        const end = close === -1 ? n : close + tag.length;
        push('dollar', i, end, script.slice(j + 1, close === -1 ? n : close));
        i = end;
      } else {
        push('symbol', i, i + 1, '$');
        i++;
      }
    } else if ((c === DOLLAR || c === QUESTION || c === COLON || c === AT) && isDigitOrWord(next) && !(c === COLON && postgres)) {
      let j = i + 1;
      while (j < n && isWordPart(script.charCodeAt(j))) j++;
      push('param', i, j, script.slice(i, j));
      i = j;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(script.charCodeAt(j))) j++;
      if (postgres && j === i + 1 && (c === 69 || c === 101) && script.charCodeAt(j) === QUOTE) {
        // E'…': backslash escapes, so `\'` does not end it.
        const end = skipQuoted(script, j, QUOTE, true);
        push('string', i, end, undouble(script, j, end, "'"));
        i = end;
        continue;
      }
      const word = script.slice(i, j).toUpperCase();
      push('word', i, j, word);
      i = j;
      body += bodyDepthChange(tokens, word, postgres, body);
    } else if (isDigit(c) || (c === DOT && isDigit(next))) {
      let j = i + 1;
      while (j < n && (isDigit(script.charCodeAt(j)) || script.charCodeAt(j) === DOT || script.charCodeAt(j) === 95)) j++;
      push('number', i, j, script.slice(i, j));
      i = j;
    } else if (c === SEMICOLON && body === 0) {
      const statement = finish();
      if (statement) yield statement;
      i++;
    } else {
      push('symbol', i, i + 1, script[i] as string);
      i++;
    }
  }
  const last = finish();
  if (last) yield last;
}

/**
 * How a word changes the depth of bodies in which `;` does not end the statement:
 * PostgreSQL's `BEGIN ATOMIC … END` (SQL-standard function bodies) and SQLite's
 * `CREATE TRIGGER … BEGIN … END`; a CASE inside such a body has an END of its own.
 */
function bodyDepthChange(tokens: Token[], word: string, postgres: boolean, depth: number): number {
  if (depth > 0) return word === 'CASE' ? 1 : word === 'END' ? -1 : 0;
  if (postgres) return word === 'ATOMIC' && tokens.length >= 2 && (tokens[tokens.length - 2] as Token).value === 'BEGIN' ? 1 : 0;
  return word === 'BEGIN' && tokens.length > 1 && isCreateTrigger(tokens) ? 1 : 0;
}

/** `CREATE [TEMP|TEMPORARY] TRIGGER …` (SQLite). */
function isCreateTrigger(tokens: Token[]): boolean {
  return startsWith(tokens, 'CREATE', 'TRIGGER') || startsWith(tokens, 'CREATE', 'TEMP', 'TRIGGER') || startsWith(tokens, 'CREATE', 'TEMPORARY', 'TRIGGER');
}

function skipBlockComment(script: string, from: number, nested: boolean): number {
  const n = script.length;
  let depth = 1;
  let i = from + 2;
  while (i < n && depth > 0) {
    const c = script.charCodeAt(i);
    if (c === STAR && script.charCodeAt(i + 1) === SLASH) (depth--, (i += 2));
    else if (nested && c === SLASH && script.charCodeAt(i + 1) === STAR) (depth++, (i += 2));
    else i++;
  }
  return i;
}

/** The end (exclusive) of a quoted token opened at `from`; a doubled quote stays inside. Unterminated: the end of the script. */
function skipQuoted(script: string, from: number, quote: number, backslashEscapes: boolean): number {
  const n = script.length;
  let i = from + 1;
  while (i < n) {
    const c = script.charCodeAt(i);
    if (backslashEscapes && c === BACKSLASH) i += 2;
    else if (c === quote && script.charCodeAt(i + 1) === quote) i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return n;
}

function undouble(script: string, start: number, end: number, quote: string): string {
  const closed = end - start >= 2 && script[end - 1] === quote;
  const inner = script.slice(start + 1, closed ? end - 1 : end);
  return inner.includes(quote + quote) ? inner.split(quote + quote).join(quote) : inner;
}

const [DASH, SLASH, STAR, QUOTE, DOUBLE_QUOTE, BACKTICK, OPEN_BRACKET, DOLLAR, SEMICOLON, DOT, BACKSLASH, QUESTION, COLON, AT, NEWLINE, RETURN] = [..."-/*'\"`[$;.\\?:@\n\r"].map((ch) => ch.charCodeAt(0));

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** A letter or `_`: where an identifier or keyword starts. */
function isWordStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code > 127;
}

/** Letters, digits, `_` and `$` continue a word (so `a$b$` is no dollar quote). */
function isWordPart(code: number): boolean {
  return isWordStart(code) || isDigit(code) || code === DOLLAR;
}

function isDigitOrWord(code: number): boolean {
  return isWordStart(code) || isDigit(code);
}

// ---------------------------------------------------------------------------
// Reading statements by their tokens

/** True when the statement's first tokens are these words (upper case). */
export function startsWith(tokens: readonly Token[], ...words: string[]): boolean {
  return wordsAt(tokens, 0, ...words);
}

/** True when the tokens from index `at` are these words (upper case). */
export function wordsAt(tokens: readonly Token[], at: number, ...words: string[]): boolean {
  for (let k = 0; k < words.length; k++) {
    const token = tokens[at + k];
    if (token?.kind !== 'word' || token.value !== words[k]) return false;
  }
  return true;
}

/** The index of the first token at or after `from` that is the word, or -1. */
export function findWord(tokens: readonly Token[], word: string, from = 0): number {
  for (let k = from; k < tokens.length; k++) if ((tokens[k] as Token).kind === 'word' && (tokens[k] as Token).value === word) return k;
  return -1;
}

/** A possibly qualified name (`"s"."t"`, `s.t`, `t`) starting at token `k`: its last part and the index after it. */
export function nameAt(tokens: readonly Token[], k: number): { name: string; next: number } | null {
  let name: string | null = null;
  let j = k;
  for (;;) {
    const token = tokens[j];
    if (!token || (token.kind !== 'word' && token.kind !== 'quoted')) return name === null ? null : { name, next: j };
    name = token.kind === 'word' ? token.value.toLowerCase() : token.value;
    j++;
    if (tokens[j]?.kind !== 'symbol' || tokens[j]?.value !== '.') return { name, next: j };
    j++;
  }
}

/** `a, "b", s.c …` from token `from`: the names (last parts), up to the first that is not followed by a comma. */
export function nameList(tokens: readonly Token[], from: number): string[] {
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

/** The statement on one line: comments dropped, each run of blanks one space, cut at `max` characters. */
export function statementLine(statement: Statement | string, max = 100): string {
  const parsed = typeof statement === 'string' ? parseScript(statement)[0] : statement;
  if (!parsed) return '';
  let line = '';
  let previousEnd = -1;
  for (const token of parsed.tokens) {
    if (line.length > max) break;
    const start = token.start - parsed.start;
    if (previousEnd >= 0 && start > previousEnd) line += ' ';
    line += parsed.text.slice(start, Math.min(token.end - parsed.start, start + max + 1));
    previousEnd = token.end - parsed.start;
  }
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// ---------------------------------------------------------------------------
// How a migration must run

/**
 * A statement that opens or ends a transaction: BEGIN, START TRANSACTION; COMMIT, END;
 * ROLLBACK, ABORT (not ROLLBACK TO a savepoint, which keeps the transaction open).
 */
export function transactionControl(tokens: readonly Token[]): 'begin' | 'commit' | 'rollback' | null {
  const first = tokens[0];
  if (first?.kind !== 'word') return null;
  switch (first.value) {
    case 'BEGIN':
      return 'begin';
    case 'START':
      return wordsAt(tokens, 1, 'TRANSACTION') ? 'begin' : null;
    case 'COMMIT':
    case 'END':
      return 'commit';
    case 'ROLLBACK':
    case 'ABORT':
      return tokens.some((t, k) => k > 0 && t.kind === 'word' && t.value === 'TO') ? null : 'rollback';
    default:
      return null;
  }
}

/** `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON [ONLY] table …`: the index's name and the table as written. */
export function concurrentIndexBuild(statement: Statement): { index: string; table: string } | null {
  const { tokens } = statement;
  let k = startsWith(tokens, 'CREATE', 'INDEX') ? 2 : startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX') ? 3 : -1;
  if (k < 0 || !wordsAt(tokens, k, 'CONCURRENTLY')) return null;
  k++;
  if (wordsAt(tokens, k, 'IF', 'NOT', 'EXISTS')) k += 3;
  const index = tokens[k];
  if (!index || (index.kind !== 'word' && index.kind !== 'quoted') || !wordsAt(tokens, k + 1, 'ON')) return null;
  k += 2;
  if (wordsAt(tokens, k, 'ONLY')) k++;
  const table = nameAt(tokens, k);
  if (!table) return null;
  const text = statement.text.slice((tokens[k] as Token).start - statement.start, (tokens[table.next - 1] as Token).end - statement.start);
  return { index: index.kind === 'word' ? index.value.toLowerCase() : index.value, table: text };
}

/** PostgreSQL statements that cannot run inside a transaction block, by their words. */
function postgresNoTransaction(tokens: Token[]): string | null {
  const concurrently = findWord(tokens, 'CONCURRENTLY') !== -1;
  if (concurrently && (startsWith(tokens, 'CREATE', 'INDEX') || startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX') || startsWith(tokens, 'DROP', 'INDEX'))) return 'CREATE/DROP INDEX CONCURRENTLY';
  if (concurrently && startsWith(tokens, 'REINDEX')) return 'REINDEX CONCURRENTLY';
  if (concurrently && startsWith(tokens, 'ALTER', 'TABLE') && findWord(tokens, 'DETACH') !== -1) return 'DETACH PARTITION CONCURRENTLY';
  if (startsWith(tokens, 'VACUUM')) return 'VACUUM';
  if (startsWith(tokens, 'CREATE', 'DATABASE') || startsWith(tokens, 'DROP', 'DATABASE')) return 'CREATE/DROP DATABASE';
  if (startsWith(tokens, 'CREATE', 'TABLESPACE') || startsWith(tokens, 'DROP', 'TABLESPACE')) return 'CREATE/DROP TABLESPACE';
  if (startsWith(tokens, 'ALTER', 'SYSTEM')) return 'ALTER SYSTEM';
  return null;
}

export type ScriptMode =
  /** The kit wraps the script and its history row in one transaction. */
  | { kind: 'transactional' }
  /** The script opens and commits its own transactions; it runs as written. */
  | { kind: 'self-managed' }
  /** A statement cannot run inside a transaction; statements run one by one. */
  | { kind: 'no-transaction'; reason: string };

/** `ALTER TYPE t ADD VALUE [IF NOT EXISTS] 'v' …`: the new label. */
export function addedEnumValue(tokens: Token[]): string | null {
  if (!startsWith(tokens, 'ALTER', 'TYPE')) return null;
  const name = nameAt(tokens, 2);
  if (!name || !wordsAt(tokens, name.next, 'ADD', 'VALUE')) return null;
  let k = name.next + 2;
  if (wordsAt(tokens, k, 'IF', 'NOT', 'EXISTS')) k += 3;
  return tokens[k]?.kind === 'string' ? (tokens[k] as Token).value : null;
}

/**
 * How a migration must run, read from its statements. An enum value added and then used
 * in the same script is not read here: which uses PostgreSQL refuses in the adding
 * transaction (a cast, an enum column's default or value) and which it accepts (the same
 * label as text: a trigger argument, a text default) only the server knows, so deploy
 * runs it in one transaction and, when the server refuses (55P04), statement by statement.
 */
export function scriptMode(script: string, provider: Provider): ScriptMode {
  let mode: ScriptMode = { kind: 'transactional' };
  for (const { tokens } of scanStatements(script, provider)) {
    if (transactionControl(tokens)) return { kind: 'self-managed' };
    const reason = provider === 'postgresql' ? postgresNoTransaction(tokens) : startsWith(tokens, 'VACUUM') ? 'VACUUM' : null;
    if (reason && mode.kind === 'transactional') mode = { kind: 'no-transaction', reason };
  }
  return mode;
}

/**
 * PostgreSQL: the script with the CONCURRENTLY of its index builds and drops taken out,
 * so that it runs in one transaction; null when another of its statements cannot (or it
 * manages its own transactions). Only for a database the deploy builds from nothing: no
 * session but the migrator's reads its tables, so building concurrently spares no one,
 * and in a transaction a failed build leaves nothing behind (no INVALID index).
 */
export function withoutConcurrently(script: string): string | null {
  const cuts: Token[] = [];
  for (const { tokens } of scanStatements(script, 'postgresql')) {
    if (transactionControl(tokens)) return null;
    const reason = postgresNoTransaction(tokens);
    if (!reason) continue;
    const at = startsWith(tokens, 'CREATE', 'UNIQUE', 'INDEX') ? 3 : startsWith(tokens, 'CREATE', 'INDEX') || startsWith(tokens, 'DROP', 'INDEX') ? 2 : -1;
    if (at === -1 || !wordsAt(tokens, at, 'CONCURRENTLY')) return null;
    cuts.push(tokens[at] as Token);
  }
  let plain = script;
  for (const token of cuts.reverse()) plain = `${plain.slice(0, token.start)}${plain.slice(token.end)}`;
  return plain;
}

/** A SQL string literal (standard_conforming_strings: only quotes need doubling). */
export function sqlLiteral(value: string | null): string {
  return value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`;
}

/** A quoted identifier. */
export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The actions of an ALTER TABLE, split at the commas outside parentheses and brackets (ARRAY['a', 'b']). */
export function alterActions(tokens: Token[], from: number): Token[][] {
  const actions: Token[][] = [[]];
  let depth = 0;
  for (let k = from; k < tokens.length; k++) {
    const token = tokens[k] as Token;
    if (token.kind === 'symbol' && (token.value === '(' || token.value === '[')) depth++;
    if (token.kind === 'symbol' && (token.value === ')' || token.value === ']')) depth--;
    if (depth === 0 && token.kind === 'symbol' && token.value === ',') actions.push([]);
    else (actions.at(-1) as Token[]).push(token);
  }
  return actions.filter((a) => a.length > 0);
}
