/**
 * `make rehearse`: the pending migrations applied first to a copy of the target, with
 * what they cost there, per migration: its duration, the locks it held on each table
 * and for how long, the rows it changed, the tables it rewrote, the indexes it built,
 * and the linter's findings weighed with the copy's real rows. The target is only
 * ever read (a read-only session, pg_dump's read-only snapshot, SQLite opened
 * read-only); the copy is dropped at the end, whatever happened.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTarget, openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget, type SqlConnection } from '../db.ts';
import { ddlLockTimeoutMs, lockTimeoutMs, shadowDatabaseUrl } from '../env.ts';
import { KitError, errorMessage } from '../errors.ts';
import { copyPostgres, copySqlite } from '../runtime/backup.ts';
import { deploy, type DeployEvent } from '../runtime/deploy.ts';
import type { History } from '../runtime/history.ts';
import { parseScript, scriptMode, sqlIdentifier } from '../runtime/sql-script.ts';
import { readStatus } from '../runtime/status.ts';
import { TABLE } from '../runtime/table.ts';
import { lintFolder, weighTables, type Finding } from './lint.ts';
import { withPostgresServer } from './shadow.ts';

type PgTarget = DatabaseTarget & { provider: 'postgresql' };

export interface LockHeld {
  table: string;
  /** PostgreSQL's lock mode (AccessExclusiveLock, …); SQLite: the database's write lock. */
  mode: string;
  /** From when it was first seen until it was let go (a transaction's locks: its COMMIT). */
  heldMs: number;
}

/** PostgreSQL: the table's statistics counters; SQLite: its row count before and after. */
export interface RowsChanged {
  table: string;
  inserted?: number;
  updated?: number;
  deleted?: number;
  before?: number;
  after?: number;
}

export interface MigrationCost {
  name: string;
  ms: number;
  statements: number;
  locks: LockHeld[];
  rows: RowsChanged[];
  /** Tables written anew (PostgreSQL: a new relfilenode; SQLite: a rebuild), with their rows after. */
  rewrites: { table: string; rows: number }[];
  /** New indexes; `ms`: how long its build was seen running (null: shorter than a sample). */
  indexes: { index: string; table: string; ms: number | null }[];
  findings: Finding[];
}

export interface Verdict {
  totalMs: number;
  /** MIGRATION_DDL_LOCK_TIMEOUT: how long the kit lets the app's queries queue behind one of its lock waits (0: no limit). */
  ddlLockTimeoutMs: number;
  /** Per table, the longest lock that blocks the app's writes (or reads). */
  longestLocks: (LockHeld & { migration: string; blocks: 'writes' | 'reads and writes'; overTimeout: boolean })[];
  /** Findings of the rules that break the release still running during the deploy. */
  breaking: Finding[];
}

export interface Rehearsal {
  copy: { from: string; on: string; bytes: number; ms: number };
  pending: string[];
  migrations: MigrationCost[];
  failure?: { name?: string; error: unknown };
  verdict: Verdict;
}

export interface RehearseOptions {
  /** A backup file to copy instead of the live database. */
  from?: string;
  /** Refuse a copy larger than this (0: no limit). */
  maxBytes: number;
  onProgress: (line: string) => void;
  onEvent?: (event: DeployEvent) => void;
  /** While the copy exists: how to drop it should the command be stopped (SIGINT, SIGTERM); returns how to forget it. */
  onCopy?: (drop: () => Promise<unknown>) => () => void;
}

/** How often the migrator's locks and index builds are looked at (PostgreSQL). */
const SAMPLE_MS = 20;
/** Modes that make the app's writes wait, weakest first; the last also its reads. */
const BLOCKING = ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'];
const MODES = ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', ...BLOCKING];
const SQLITE_WRITE_LOCK = 'write lock';

/** The pending migrations of `target` rehearsed on a copy; `null` when nothing is pending. */
export async function rehearse(target: DatabaseTarget, history: History, options: RehearseOptions): Promise<Rehearsal | null> {
  let bytes: number;
  if (options.from) {
    bytes = fileBytes(options.from);
  } else {
    const source = await openConnection(target, { applicationName: 'rastar-rehearse', readonly: true });
    try {
      if ((await readStatus(source, history)).pending.length === 0) return null;
      bytes = await databaseBytes(source);
    } finally {
      await source.close();
    }
  }
  if (options.maxBytes && bytes > options.maxBytes) {
    throw new KitError('REFUSED', `The ${options.from ? 'backup' : 'database'} is ${formatBytes(bytes)}, over REHEARSE_MAX_BYTES (${formatBytes(options.maxBytes)}): nothing was copied`, {
      hint: 'Raise the limit (REHEARSE_MAX_BYTES=<bytes>, 0: none) when the copy has the room and the time, or rehearse on a smaller backup with FROM=backups/<name>.',
    });
  }
  return withCopy(target, bytes, options, async (copy, copied) => {
    const conn = await openConnection(copy, { applicationName: 'rastar-rehearse' });
    try {
      const pending = (await readStatus(conn, history)).pending;
      const run = await observedDeploy(conn, history, options);
      const findings = lintFolder(copy.provider, history.migrations, (name) => pending.includes(name));
      await weighTables(copy, findings);
      for (const cost of run.migrations) cost.findings = findings.filter((f) => f.migration === cost.name).map(({ table, ...f }: Finding & { table?: string }) => f);
      return { copy: copied, pending, migrations: run.migrations, ...(run.failure ? { failure: run.failure } : {}), verdict: verdict(run.migrations, findings) };
    } finally {
      await conn.close();
    }
  });
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    throw new KitError('BAD_USAGE', `No backup file at ${path}`);
  }
}

async function databaseBytes(conn: SqlConnection): Promise<number> {
  if (conn.target.provider === 'sqlite') {
    const wal = `${conn.target.file}-wal`;
    return fileBytes(conn.target.file) + (existsSync(wal) ? fileBytes(wal) : 0);
  }
  const [row] = await conn.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
  return Number(row?.bytes ?? 0);
}

/** A copy of the target (or of the backup file) for `work`, dropped after it (and, through options.onCopy, when the command is stopped). */
async function withCopy<T>(target: DatabaseTarget, bytes: number, options: RehearseOptions, work: (copy: DatabaseTarget, copied: Rehearsal['copy']) => Promise<T>): Promise<T> {
  const from = options.from ? `the backup ${options.from}` : 'the database';
  const started = performance.now();
  const report = progressReporter(bytes, options.onProgress);
  if (target.provider === 'sqlite') {
    for (const left of sweepSqliteCopies()) options.onProgress(`Removed ${left}, a copy a killed rehearsal left behind.`);
    const dir = mkdtempSync(join(tmpdir(), `${SQLITE_COPY_PREFIX}${process.pid}-`));
    const drop = async () => rmSync(dir, { recursive: true, force: true });
    return droppedOnSignal(drop, async () => {
      const file = join(dir, 'copy.db');
      options.onProgress(`Copying ${from} (${formatBytes(bytes)}) into a temporary file…`);
      await copySqlite(options.from ?? target.file, file, 'copy', (done) => report(done * bytes));
      return work(parseDatabaseUrl(`file:${file}`), { from, on: 'a temporary file', bytes, ms: performance.now() - started });
    }, options.onCopy);
  }
  return withCopyServer(target, options.onProgress, async (server, on) => {
    const name = `${PG_COPY_PREFIX}${process.pid}_${Date.now().toString(36)}`;
    const admin = await openConnection(server, { applicationName: 'rastar-rehearse' });
    try {
      for (const left of await sweepPostgresCopies(admin)) options.onProgress(`Dropped ${left}, a copy a killed rehearsal left behind.`);
      // Held by this session while the copy exists: a rehearsal that sees it free knows the copy's owner is gone.
      await admin.query('SELECT pg_advisory_lock($1, hashtext($2))', [COPY_LOCK_CLASS, name]);
      await admin.exec(`CREATE DATABASE ${sqlIdentifier(name)}`);
      const drop = () => admin.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(name)} WITH (FORCE)`);
      return await droppedOnSignal(drop, async () => {
        const copy = { ...withDatabase(server, name), schema: target.schema } as PgTarget;
        options.onProgress(`Copying ${from} (${formatBytes(bytes)}) into a scratch database on ${on}…`);
        await copyPostgres(options.from ? { file: options.from } : { target }, copy, report);
        return work(copy, { from, on, bytes, ms: performance.now() - started });
      }, options.onCopy);
    } finally {
      await admin.close();
    }
  });
}

const SQLITE_COPY_PREFIX = 'rastar-rehearsal-';
const SQLITE_COPY_PID = new RegExp(`^${SQLITE_COPY_PREFIX}(\\d+)-`);
const PG_COPY_PREFIX = 'rastar_rehearsal_';
/** The advisory-lock class (two-key form) of the scratch databases' owner locks. */
const COPY_LOCK_CLASS = 0x72656873;

/**
 * The temporary copies of rehearsals that were killed (SIGKILL, a crash) before they
 * could drop them, removed: each directory is named after its process, gone now.
 */
function sweepSqliteCopies(): string[] {
  const removed: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    const pid = SQLITE_COPY_PID.exec(entry)?.[1];
    if (!pid || processAlive(Number(pid))) continue;
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    removed.push(join(tmpdir(), entry));
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The scratch databases of rehearsals that were killed before they could drop them,
 * dropped: a live rehearsal holds its copy's lock from before CREATE DATABASE until
 * after the drop, and a killed one's session, and with it the lock, ends with it.
 */
async function sweepPostgresCopies(admin: SqlConnection): Promise<string[]> {
  const dropped: string[] = [];
  const names = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [PG_COPY_PREFIX]);
  for (const { datname } of names) {
    const [free] = await admin.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [COPY_LOCK_CLASS, datname]);
    if (!free?.ok) continue;
    try {
      await admin.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(datname)} WITH (FORCE)`);
      dropped.push(datname);
    } catch {
      // Another role's copy: not ours to drop; its owner's next rehearsal will.
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1, hashtext($2))', [COPY_LOCK_CLASS, datname]);
    }
  }
  return dropped;
}

/** `work`, then `drop`; meanwhile the caller's stop-signal handling (options.onCopy) knows how to drop the copy. */
async function droppedOnSignal<T>(drop: () => Promise<unknown>, work: () => Promise<T>, onCopy: RehearseOptions['onCopy']): Promise<T> {
  const forget = onCopy?.(drop);
  try {
    return await work();
  } finally {
    forget?.();
    await drop();
  }
}

/**
 * Where the PostgreSQL copy goes: SHADOW_DATABASE_URL's server; else the target's own
 * server when its role may create databases (through its maintenance database, never
 * a writable session on the target); else an embedded PostgreSQL.
 */
async function withCopyServer<T>(target: PgTarget, onProgress: (line: string) => void, work: (server: PgTarget, on: string) => Promise<T>): Promise<T> {
  if (!shadowDatabaseUrl()) {
    const conn = await openConnection(target, { applicationName: 'rastar-rehearse', readonly: true });
    const [row] = await conn.query<{ may: boolean }>('SELECT rolcreatedb OR rolsuper AS may FROM pg_roles WHERE rolname = current_user').finally(() => conn.close());
    if (row?.may) return work(withDatabase(target, 'postgres'), "the target's server");
  }
  return withPostgresServer((server) => work(server, shadowDatabaseUrl() ? "SHADOW_DATABASE_URL's server" : 'an embedded PostgreSQL'), onProgress);
}

/** Progress on long copies: a line at each quarter of the expected size, only past 64 MiB. */
export function progressReporter(expected: number, onProgress: (line: string) => void): (done: number) => void {
  let next = 0.25;
  return (done) => {
    if (expected < 64 * 1024 * 1024 || done < expected * next) return;
    while (done >= expected * next) next += 0.25;
    onProgress(`  … ${formatBytes(done)} copied`);
  };
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) (value /= 1024), unit++;
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// ---------------------------------------------------------------------------
// The deploy, watched

interface Relation {
  name: string;
  kind: string;
  file: string;
  table?: string;
  inserted: number;
  updated: number;
  deleted: number;
  rows?: number;
}

/** What the copy holds, by object: tables and indexes, their files and counters. */
async function snapshot(conn: SqlConnection): Promise<Map<string, Relation>> {
  if (conn.target.provider === 'sqlite') {
    const objects = await conn.query<{ name: string; type: string; tbl_name: string; rootpage: number }>(
      `SELECT name, type, tbl_name, rootpage FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' AND tbl_name <> '${TABLE}'`,
    );
    const relations = new Map<string, Relation>();
    for (const o of objects) {
      const rows = o.type === 'table' ? Number((await conn.query<{ n: number }>(`SELECT count(*) AS n FROM ${sqlIdentifier(o.name)}`))[0]?.n ?? 0) : undefined;
      relations.set(o.name, { name: o.name, kind: o.type === 'table' ? 'r' : 'i', file: String(o.rootpage), ...(o.type === 'index' ? { table: o.tbl_name } : {}), inserted: 0, updated: 0, deleted: 0, ...(rows === undefined ? {} : { rows }) });
    }
    return relations;
  }
  // The migrator's counters reach the shared statistics when it is next idle, forced.
  await conn.query('SELECT pg_stat_force_next_flush()').catch(() => {}); // PostgreSQL 15+; before, the counters may lag
  const rows = await conn.query<{ oid: string; name: string; kind: string; file: string; tbl: string | null; ins: string; upd: string; del: string }>(
    `SELECT c.oid::text AS oid, c.relname AS name, c.relkind AS kind, c.relfilenode::text AS file, t.relname AS tbl,
            coalesce(s.n_tup_ins, 0)::text AS ins, coalesce(s.n_tup_upd, 0)::text AS upd, coalesce(s.n_tup_del, 0)::text AS del
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
       LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm', 'i') AND c.relname <> $2 AND coalesce(t.relname, '') <> $2`,
    [(conn.target as PgTarget).schema, TABLE],
  );
  return new Map(
    rows.map((r) => [r.oid, { name: r.name, kind: r.kind === 'i' ? 'i' : 'r', file: r.file, ...(r.tbl ? { table: r.tbl } : {}), inserted: Number(r.ins), updated: Number(r.upd), deleted: Number(r.del) }]),
  );
}

/** What one migration changed, from the snapshots around it. */
async function changes(conn: SqlConnection, before: Map<string, Relation>, after: Map<string, Relation>): Promise<Pick<MigrationCost, 'rows' | 'rewrites'> & { newIndexes: { index: string; table: string; key: string }[] }> {
  const rows: RowsChanged[] = [];
  const rewrites: MigrationCost['rewrites'] = [];
  const newIndexes: { index: string; table: string; key: string }[] = [];
  for (const [key, now] of after) {
    const was = before.get(key);
    if (now.kind === 'i') {
      if (!was || was.file !== now.file) newIndexes.push({ index: now.name, table: now.table ?? '', key });
      continue;
    }
    if (conn.target.provider === 'sqlite') {
      if (now.rows !== (was?.rows ?? 0)) rows.push({ table: now.name, before: was?.rows ?? 0, after: now.rows ?? 0 });
    } else {
      const [inserted, updated, deleted] = [now.inserted - (was?.inserted ?? 0), now.updated - (was?.updated ?? 0), now.deleted - (was?.deleted ?? 0)];
      if (inserted || updated || deleted) rows.push({ table: now.name, inserted, updated, deleted });
    }
    if (was && was.file !== now.file && now.file !== '0') {
      const counted = now.rows ?? Number((await conn.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${sqlIdentifier((conn.target as PgTarget).schema)}.${sqlIdentifier(now.name)}`))[0]?.n ?? 0);
      rewrites.push({ table: now.name, rows: counted });
    }
  }
  return { rows, rewrites, newIndexes };
}

interface Seen {
  mode: string;
  first: number;
  last: number;
}

/**
 * PostgreSQL: a second session looks at the migrator's locks on the copy's tables and its
 * index builds every SAMPLE_MS, and files them under the migration running then.
 */
class Watcher {
  private running = true;
  private done: Promise<void>;
  current: string | null = null;
  readonly locks = new Map<string, Map<string, Seen>>();
  readonly builds = new Map<string, Map<string, Seen>>();

  constructor(observer: SqlConnection, pid: number, schema: string) {
    this.done = this.loop(observer, pid, schema);
  }

  private async loop(observer: SqlConnection, pid: number, schema: string): Promise<void> {
    const sql = `SELECT 'lock' AS kind, c.relname AS name, l.mode AS detail
                   FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND n.nspname = $2 AND c.relkind IN ('r', 'p', 'm') AND c.relname <> $3
                 UNION ALL
                 -- A relation the migrator is creating: not visible to this session until its COMMIT, known by its oid.
                 SELECT 'new', l.relation::text, l.mode
                   FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation
                  WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND c.oid IS NULL AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                 UNION ALL
                 SELECT 'build', coalesce(ci.relname, ''), ct.relname
                   FROM pg_catalog.pg_stat_progress_create_index p LEFT JOIN pg_catalog.pg_class ci ON ci.oid = p.index_relid LEFT JOIN pg_catalog.pg_class ct ON ct.oid = p.relid
                  WHERE p.pid = $1`;
    while (this.running) {
      const rows = await observer.query<{ kind: string; name: string; detail: string }>(sql, [pid, schema, TABLE]).catch(() => []);
      const at = performance.now();
      const migration = this.current;
      if (migration) {
        for (const row of rows) {
          // A build whose index has no name yet (a plain CREATE INDEX): filed under its table.
          const [book, key, mode] = row.kind === 'lock' ? [this.locks, row.name, row.detail] : row.kind === 'new' ? [this.builds, `oid:${row.name}`, ''] : [this.builds, row.name || `table:${row.detail}`, ''];
          const entries = book.get(migration) ?? new Map<string, Seen>();
          book.set(migration, entries);
          const seen = entries.get(key);
          if (!seen) entries.set(key, { mode, first: at, last: at });
          else {
            seen.last = at;
            if (MODES.indexOf(mode) > MODES.indexOf(seen.mode)) seen.mode = mode;
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

interface Run {
  migrations: MigrationCost[];
  failure?: { name?: string; error: unknown };
}

/** The kit's own deploy on the copy, one migration at a time, each looked at before and after. */
async function observedDeploy(conn: SqlConnection, history: History, options: RehearseOptions): Promise<Run> {
  const postgres = conn.target.provider === 'postgresql';
  const observer = postgres ? await openConnection(conn.target, { applicationName: 'rastar-rehearse-watch' }) : null;
  const pid = postgres ? Number((await conn.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]?.pid) : 0;
  const watcher = observer ? new Watcher(observer, pid, (conn.target as PgTarget).schema) : null;
  const migrations: MigrationCost[] = [];
  const scripts = new Map(history.migrations.map((m) => [m.name, m]));
  let before = await snapshot(conn);
  let started = 0;
  let current: string | undefined;
  const ended = new Map<string, { ms: number; at: number }>();
  const onEvent = (event: DeployEvent) => {
    if (event.event === 'applying') {
      current = event.name;
      started = performance.now();
      if (watcher) watcher.current = event.name;
    }
    if (event.event === 'applied') ended.set(event.name, { ms: event.ms, at: performance.now() });
    options.onEvent?.(event);
  };
  const afterEach = async (name: string) => {
    if (watcher) watcher.current = null;
    const after = await snapshot(conn);
    const changed = await changes(conn, before, after);
    before = after;
    const end = ended.get(name) ?? { ms: performance.now() - started, at: performance.now() };
    const migration = scripts.get(name);
    const transactional = migration ? scriptMode(migration.script, conn.target.provider).kind === 'transactional' : true;
    const locks: LockHeld[] = postgres
      ? [...(watcher?.locks.get(name) ?? new Map<string, Seen>())].map(([table, seen]) => ({
          table,
          mode: seen.mode,
          // A transaction's locks stay until its COMMIT; outside one, until the statement ends.
          heldMs: Math.min(end.ms, Math.max(0, (transactional ? end.at : seen.last + SAMPLE_MS) - seen.first)),
        }))
      : [{ table: '(the whole database)', mode: SQLITE_WRITE_LOCK, heldMs: end.ms }];
    const builds = watcher?.builds.get(name) ?? new Map<string, Seen>();
    // A new index by its oid (locked while built), a CONCURRENTLY build by its name, else the builds on its table when it is the only one.
    const indexes = changed.newIndexes.map(({ index, table, key }) => {
      const seen = builds.get(`oid:${key}`) ?? builds.get(index) ?? (changed.newIndexes.filter((i) => i.table === table).length === 1 ? builds.get(`table:${table}`) : undefined);
      return { index, table, ms: seen ? seen.last - seen.first + SAMPLE_MS : null };
    });
    migrations.push({ name, ms: end.ms, statements: migration ? parseScript(migration.script, conn.target.provider).length : 0, locks, rows: changed.rows, rewrites: changed.rewrites, indexes, findings: [] });
  };
  try {
    await deploy(conn, history, { lockTimeoutMs: lockTimeoutMs(), onEvent, afterEach });
    return { migrations };
  } catch (error) {
    return { migrations, failure: { ...(current && !ended.has(current) ? { name: current } : {}), error } };
  } finally {
    await watcher?.stop();
    await observer?.close();
  }
}

function verdict(migrations: MigrationCost[], findings: Finding[]): Verdict {
  const timeout = ddlLockTimeoutMs();
  const longest = new Map<string, Verdict['longestLocks'][number]>();
  for (const migration of migrations) {
    for (const lock of migration.locks) {
      const blocking = lock.mode === SQLITE_WRITE_LOCK || BLOCKING.includes(lock.mode);
      if (!blocking) continue;
      const held = longest.get(lock.table);
      if (held && held.heldMs >= lock.heldMs) continue;
      // SQLite's write lock: the deploy runs the file in WAL mode, where readers never wait for the writer.
      longest.set(lock.table, { ...lock, migration: migration.name, blocks: lock.mode === 'AccessExclusiveLock' ? 'reads and writes' : 'writes', overTimeout: timeout > 0 && lock.heldMs > timeout });
    }
  }
  return {
    totalMs: migrations.reduce((sum, m) => sum + m.ms, 0),
    ddlLockTimeoutMs: timeout,
    longestLocks: [...longest.values()].sort((a, b) => b.heldMs - a.heldMs),
    breaking: findings.filter((f) => f.breaking && f.allowed === undefined).map(({ table, ...f }: Finding & { table?: string }) => f),
  };
}

// ---------------------------------------------------------------------------
// The latest rehearsal, for make check

/** What make check reads: the verdict of the latest rehearsal of a database, and for which pending set. */
export interface SavedRehearsal {
  at: string;
  pending: { name: string; checksum: string }[];
  applied: number;
  failure?: { name: string | null; error: string };
  verdict: Verdict;
}

/** One file per database (where it lives, never its credentials), in the project's .rastar/. */
export function savedRehearsalPath(target: DatabaseTarget): string {
  return join(projectRoot, '.rastar', 'rehearsals', `${createHash('sha256').update(describeTarget(target)).digest('hex').slice(0, 16)}.json`);
}

const pendingSet = (history: History, names: string[]) => names.map((name) => ({ name, checksum: history.migrations.find((m) => m.name === name)?.checksum ?? '' }));

export function saveRehearsal(target: DatabaseTarget, history: History, rehearsal: Rehearsal, at = new Date()): void {
  const saved: SavedRehearsal = {
    at: at.toISOString(),
    pending: pendingSet(history, rehearsal.pending),
    applied: rehearsal.migrations.length,
    ...(rehearsal.failure ? { failure: { name: rehearsal.failure.name ?? null, error: errorMessage(rehearsal.failure.error).split('\n')[0] as string } } : {}),
    verdict: rehearsal.verdict,
  };
  const file = savedRehearsalPath(target);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
}

/** The latest rehearsal of `target` when it rehearsed exactly these pending migrations (names and checksums), else null. */
export function latestRehearsal(target: DatabaseTarget, history: History, pending: string[]): SavedRehearsal | null {
  let saved: SavedRehearsal;
  try {
    saved = JSON.parse(readFileSync(savedRehearsalPath(target), 'utf8')) as SavedRehearsal;
  } catch {
    return null;
  }
  return JSON.stringify(saved.pending) === JSON.stringify(pendingSet(history, pending)) ? saved : null;
}
