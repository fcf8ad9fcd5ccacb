/**
 * Backups before migrating, and restores by hand. PostgreSQL: pg_dump's custom
 * format (pg_restore reads it); SQLite: the online backup API, consistent
 * while the app keeps writing. Named after the last applied migration and the
 * time, so a file says which schema it holds.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { maskSecrets, openConnection, projectRoot, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { sqlLiteral } from './sql-script.ts';
import { backupDirSetting, connectTimeoutMs } from '../env.ts';
import { fs } from '../node-builtins.ts';
import type { ChildProcess } from 'node:child_process';

/** Asked for at the first spawn: a command that runs no PostgreSQL tool never loads node:child_process. */
const spawn = ((...args: Parameters<typeof import('node:child_process').spawn>) => process.getBuiltinModule('node:child_process').spawn(...args)) as typeof import('node:child_process').spawn;

const { accessSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync } = fs;

type PgTarget = DatabaseTarget & { provider: 'postgresql' };

export function backupDir(): string {
  return resolve(projectRoot, backupDirSetting() ?? 'backups');
}

/** The folder must exist (or be creatable) and be writable: checked before anything is migrated. */
export function assertWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    copyFileSync(join(projectRoot, 'package.json'), probe); // root ignores mode bits: really try
    rmSync(probe);
  } catch (error) {
    throw new KitError('IO', `BACKUP_DIR ${dir} is not writable: ${errorMessage(error)}`, { hint: 'Point BACKUP_DIR at a writable folder (a mounted volume in containers).' });
  }
}

function stamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** `<label>_<UTC time><ext>`; a second backup within the same second gets `-2`, … instead of replacing the first. */
function backupPath(dir: string, label: string, ext: string): string {
  const base = `${label}_${stamp()}`;
  let file = join(dir, `${base}${ext}`);
  for (let n = 2; existsSync(file) || existsSync(`${file}.partial`); n++) file = join(dir, `${base}-${n}${ext}`);
  return file;
}

/** libpq's environment for the client tools: the password never travels on a command line. */
function pgEnv(target: PgTarget, applicationName: string): NodeJS.ProcessEnv {
  const { host, port, user, password, database, ssl } = target.config;
  // The URL's own sslmode when it names one libpq knows (node-pg's `no-verify` is libpq's `require`).
  const asked = new URL(target.url).searchParams.get('sslmode');
  const sslmode = asked === 'no-verify' ? 'require' : asked && ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].includes(asked) ? asked : ssl ? 'require' : 'prefer';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: host,
    PGPORT: String(port),
    PGUSER: user,
    PGPASSWORD: password,
    PGDATABASE: database,
    PGSSLMODE: sslmode,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: String(Math.max(2, Math.ceil(connectTimeoutMs() / 1000))),
  };
  if (!password) delete env.PGPASSWORD;
  return env;
}

/** Write a backup of the whole database; returns its path. `label`: the last applied migration. */
export async function backupDatabase(target: DatabaseTarget, dir: string, label: string): Promise<string> {
  assertWritableDir(dir);
  if (target.provider === 'sqlite') {
    const file = backupPath(dir, label, '.db');
    await copySqlite(target.file, `${file}.partial`, 'backup');
    renameSync(`${file}.partial`, file); // a backup file either is complete or does not exist
    return file;
  }
  const client = await pgClientFor(target, 'backup');
  const file = backupPath(dir, label, '.dump');
  const args = ['--format=custom', '--no-owner', '--file', `${file}.partial`, ...(target.schema !== 'public' ? ['--schema', target.schema] : [])];
  const result = await runTool(client.tool('pg_dump'), args, pgEnv(target, 'rastar-backup'), target);
  if (result.code !== 0) {
    rmSync(`${file}.partial`, { force: true });
    throw pgToolError('pg_dump', result.stderr, target);
  }
  renameSync(`${file}.partial`, file);
  return file;
}

/** Put a backup back: the database becomes exactly what the file holds. */
export async function restoreDatabase(target: DatabaseTarget, file: string): Promise<void> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new KitError('BAD_USAGE', `No backup file at ${file}`);
  if (target.provider === 'sqlite') {
    if (!file.endsWith('.db') || !hasHeader(file, 'SQLite format 3\u0000')) throw new KitError('BAD_USAGE', `${basename(file)} is not a SQLite backup (.db)`);
    mkdirSync(dirname(target.file), { recursive: true });
    copyFileSync(file, `${target.file}.restoring`);
    // A journal or WAL of the old database must not be replayed onto the restored one.
    for (const suffix of ['-journal', '-wal', '-shm']) rmSync(target.file + suffix, { force: true });
    renameSync(`${target.file}.restoring`, target.file);
    return;
  }
  if (!file.endsWith('.dump') || !hasHeader(file, 'PGDMP')) throw new KitError('BAD_USAGE', `${basename(file)} is not a PostgreSQL backup (.dump, pg_dump custom format)`);
  await pgRestore(target, file);
}

/**
 * SQLite: copy the database file `source` (opened read-only) into `dest` with the online
 * backup API, consistent while the app keeps writing; `onProgress` hears the fraction done.
 */
export async function copySqlite(source: string, dest: string, what: 'backup' | 'copy', onProgress?: (done: number) => void): Promise<void> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        if (totalPages) onProgress?.((totalPages - remainingPages) / totalPages);
        return 100; // better-sqlite3's default pages per step: the app's writers get the file between steps
      },
    });
  } catch (error) {
    rmSync(dest, { force: true });
    throw new KitError('IO', `The ${what} of ${source} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    db.close();
  }
}

/**
 * PostgreSQL: fill the empty database `dest` with a copy of `from`: a live database,
 * dumped in pg_dump's read-only snapshot over a session that can only read, or a backup
 * file. Owners and grants are left out (the copy's server may not have the roles).
 * `onBytes` hears the size of the dump so far, as it passes.
 */
export async function copyPostgres(from: { target: PgTarget } | { file: string }, dest: PgTarget, onBytes?: (bytes: number) => void): Promise<void> {
  const client = await pgClientFor(dest, 'restore');
  let producer: ChildProcess;
  let producerName: string;
  if ('file' in from) {
    if (!existsSync(from.file) || !statSync(from.file).isFile()) throw new KitError('BAD_USAGE', `No backup file at ${from.file}`);
    if (!hasHeader(from.file, 'PGDMP')) throw new KitError('BAD_USAGE', `${basename(from.file)} is not a PostgreSQL backup (.dump, pg_dump custom format)`);
    producerName = 'pg_restore';
    producer = spawn(client.tool('pg_restore'), ['--no-owner', '--no-privileges', '--file=-', from.file], { env: pgEnv(dest, 'rastar-rehearse'), stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    const source = from.target;
    const dump = await pgClientFor(source, 'backup');
    producerName = 'pg_dump';
    const args = ['--format=plain', '--no-owner', '--no-privileges', ...(source.schema !== 'public' ? ['--schema', source.schema] : [])];
    producer = spawn(dump.tool('pg_dump'), args, { env: { ...pgEnv(source, 'rastar-rehearse'), PGOPTIONS: '-c default_transaction_read_only=on' }, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const produced = collect(producer);
  if (!(await spawned(producer))) throw pgToolError(producerName, (await produced).stderr, dest, true);
  const psql = spawn(client.tool('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction'], { env: pgEnv(dest, 'rastar-rehearse'), stdio: ['pipe', 'ignore', 'pipe'] });
  const replayed = collect(psql);
  psql.stdin!.on('error', () => {}); // psql stops reading at its first error: its exit code says so
  if (!(await spawned(psql))) {
    producer.kill();
    throw pgToolError('psql', (await replayed).stderr, dest, true);
  }
  void replayed.then(() => producer.kill()); // psql gave up: nobody reads the dump
  let bytes = 0;
  producer.stdout!.on('data', (chunk: Buffer) => onBytes?.((bytes += chunk.length)));
  const filter = client.settings ? withoutUnknownSettings(client.settings) : undefined;
  (filter ? producer.stdout!.pipe(filter) : producer.stdout!).pipe(psql.stdin!);
  const [dumped, loaded] = await Promise.all([produced, replayed]);
  if (dumped.code !== 0) throw pgToolError(producerName, dumped.stderr, 'file' in from ? dest : from.target);
  if (loaded.code !== 0) throw pgToolError('psql', loaded.stderr, dest);
}

/** Where Debian and apt.postgresql.org install each client major: <root>/<major>/bin. */
export const PG_CLIENT_ROOT = '/usr/lib/postgresql';

export interface PgClient {
  /** The tool's path (or bare name, found on PATH). */
  tool(name: 'pg_dump' | 'pg_restore' | 'psql'): string;
  /** The client's major; undefined when found on PATH. */
  major?: number;
  /** The server's major. */
  serverMajor: number;
}

/**
 * The client tools for a server of `serverMajor`: its own major when installed, else the
 * nearest newer one (pg_dump refuses a server newer than itself, and a client much newer
 * than the server may write settings the server does not know). With no client majors
 * under `root` (Alpine, macOS): whatever is on PATH, whose refusal is explained after.
 */
export function pickPgClient(serverMajor: number, purpose: 'backup' | 'restore', root = process.env.PG_CLIENT_ROOT?.trim() || PG_CLIENT_ROOT): PgClient {
  let entries: string[] = [];
  try {
    entries = readdirSync(root);
  } catch {
    // no such folder: PATH
  }
  const majors = entries.filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'pg_dump'))).map(Number).sort((a, b) => a - b);
  if (majors.length === 0) return { tool: (name) => name, serverMajor };
  // A restore only needs a client that reads the file: an older one may write into a newer server.
  const major = majors.find((m) => m >= serverMajor) ?? (purpose === 'restore' ? majors.at(-1) : undefined);
  if (major === undefined) {
    throw new KitError('IO', `The newest PostgreSQL client installed is ${majors.at(-1)} (${join(root, String(majors.at(-1)), 'bin')}), and a PostgreSQL ${serverMajor} server needs ${serverMajor} or newer: pg_dump refuses a newer server`, {
      hint: `Install postgresql-client-${serverMajor} (in the image: build with the default PG_CLIENT_APT=pgdg, which installs 15 to 18).`,
    });
  }
  return { tool: (name) => join(root, String(major), 'bin', name), major, serverMajor };
}

/**
 * The client for the target's server, asked on one connection; for a restore by a client
 * newer than the server, also the names of the server's settings (what a `SET` it runs may name).
 */
async function pgClientFor(target: PgTarget, purpose: 'backup' | 'restore'): Promise<PgClient & { settings?: Set<string> }> {
  const conn = await openConnection(target, { applicationName: `rastar-${purpose}`, readonly: true });
  try {
    const [row] = await conn.query<{ server_version_num: string }>('SHOW server_version_num');
    const client = pickPgClient(Math.floor(Number(row?.server_version_num) / 10000), purpose);
    if (purpose === 'restore' && client.major !== undefined && client.major > client.serverMajor) {
      return { ...client, settings: new Set((await conn.query<{ name: string }>('SELECT name FROM pg_settings')).map((setting) => setting.name)) };
    }
    return client;
  } finally {
    await conn.close();
  }
}

function hasHeader(file: string, magic: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(magic.length);
    return readSync(fd, buffer, 0, magic.length, 0) === magic.length && buffer.toString('latin1') === magic;
  } finally {
    closeSync(fd);
  }
}

/**
 * Empties the target schema of everything the application made (tables, views,
 * sequences, routines, types; not what extensions own) inside the restore's
 * transaction: `pg_restore --clean` alone only drops what the dump holds, so a
 * table created by a later migration (and foreign keys pointing into the dump's
 * tables) would survive and make the restore fail, or leave a database that is
 * not the backup.
 */
function emptySchemaSql(schema: string): string {
  const notExtension = (catalog: string, alias: string) => `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;
  const ns = sqlLiteral(schema);
  return `DO $rastar_restore$
DECLARE r record;
BEGIN
  FOR r IN SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname) AS stmt
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ${ns} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${notExtension('pg_class', 'c')}
  LOOP EXECUTE r.stmt; END LOOP;
  FOR r IN SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS stmt
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = ${ns} AND ${notExtension('pg_proc', 'p')}
  LOOP EXECUTE r.stmt; END LOOP;
  FOR r IN SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname) AS stmt
      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = ${ns} AND t.typtype IN ('e', 'd', 'r', 'c')
       AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
       AND ${notExtension('pg_type', 't')}
  LOOP EXECUTE r.stmt; END LOOP;
END
$rastar_restore$;
`;
}

/**
 * `pg_restore --file=-` piped into `psql`, all in ONE transaction that is
 * committed only when pg_restore read the whole file and psql ran every
 * statement: a truncated file, a wrong version or a failing statement leaves the
 * database exactly as it was.
 */
async function pgRestore(target: PgTarget, file: string): Promise<void> {
  const client = await pgClientFor(target, 'restore');
  const filter = client.settings ? withoutUnknownSettings(client.settings) : undefined;
  const env = pgEnv(target, 'rastar-restore');
  const psql = spawn(client.tool('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const psqlDone = collect(psql);
  psql.stdin!.on('error', () => {}); // psql stops reading at the first error: its exit code says so
  if (!(await spawned(psql))) throw pgToolError('psql', (await psqlDone).stderr, target, true);
  const restore = spawn(client.tool('pg_restore'), ['--clean', '--if-exists', '--no-owner', '--file=-', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const restoreDone = collect(restore);
  if (!(await spawned(restore))) {
    psql.stdin!.end();
    await psqlDone;
    throw pgToolError('pg_restore', (await restoreDone).stderr, target, true);
  }
  void psqlDone.then(() => restore.kill()); // psql gave up: pg_restore has nobody to write to
  psql.stdin!.write(`BEGIN;\nSET lock_timeout = '30s';\n${emptySchemaSql(target.schema)}`);
  const script = filter ? restore.stdout!.pipe(filter) : restore.stdout!;
  script.pipe(psql.stdin!, { end: false });
  const restored = await restoreDone;
  // The COMMIT goes after the last byte of the script, never before (a filter passes it on later).
  // (psql may have given up first: then nobody reads the script, and its exit code says why.)
  if (restored.code === 0) await Promise.race([finished(script).catch(() => {}), psqlDone]);
  // Without the COMMIT, psql ends inside the transaction and the server rolls it back.
  psql.stdin!.end(restored.code === 0 ? 'COMMIT;\n' : '');
  const replayed = await psqlDone;
  if (replayed.code !== 0) throw pgToolError('psql', replayed.stderr, target);
  if (restored.code !== 0) throw pgToolError('pg_restore', restored.stderr, target);
}

/**
 * A newer pg_restore opens its script with the settings of its own major (17's
 * `SET transaction_timeout = 0;`), which an older server refuses. Its header (comments,
 * psql meta-commands such as `\restrict`, `SET` and `set_config` lines before the first
 * object) loses the `SET`s of settings
 * the server does not have; the rest passes through untouched.
 */
export function withoutUnknownSettings(known: Set<string>): Transform {
  let header = true;
  let pending = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!header) return done(null, chunk);
      pending += chunk.toString('utf8');
      let kept = '';
      let newline: number;
      while (header && (newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline + 1);
        pending = pending.slice(newline + 1);
        const set = /^SET\s+([a-z_][a-z0-9_.]*)\s*=/i.exec(line);
        if (set && !known.has(set[1]!.toLowerCase())) continue;
        if (!set && !/^(--.*|\s*|\\\S.*|SELECT pg_catalog\.set_config\(.*)\n$/.test(line)) header = false;
        kept += line;
      }
      if (!header) {
        kept += pending;
        pending = '';
      }
      done(null, kept);
    },
    flush(done) {
      done(null, pending);
    },
  });
}

interface ToolResult {
  code: number;
  stderr: string;
  /** The tool could not be started (not installed). */
  missing: boolean;
}

function collect(child: ChildProcess): Promise<ToolResult> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve) => {
    let missing = false;
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EACCES') missing = true;
      stderr ||= errorMessage(error);
      if (child.pid === undefined) resolve({ code: 127, stderr, missing });
    });
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr, missing }));
  });
}

/** True once the process runs; false when it could not be started. */
function spawned(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
}

async function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv, target: PgTarget): Promise<ToolResult> {
  const child = spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const done = collect(child);
  if (!(await spawned(child))) throw pgToolError(tool, (await done).stderr, target, true);
  return done;
}

function pgToolError(path: string, stderr: string, target: PgTarget, missing = false): KitError {
  const tool = basename(path);
  const clientHint = (major?: string) =>
    `Install the PostgreSQL ${major ?? '<server major>'} client tools (Debian/Ubuntu: postgresql-client-${major ?? '<major>'} from apt.postgresql.org; Alpine: postgresql${major ?? '<major>'}-client): pg_dump must be at least as new as the server.`;
  if (missing) {
    return new KitError('IO', `${tool} ${path === tool ? 'is not installed (not found on PATH)' : `cannot be run (${path})`}, and the kit needs it to back up, restore or copy a PostgreSQL database`, { hint: clientHint() });
  }
  const text = maskSecrets(stderr, target).trim();
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  // pg_dump: "error: aborting because of server version mismatch" + "detail: server version: 18.4; pg_dump version: 15.18 (Debian …)"
  const versions = /server version: (\d+)(?:\.\d+)*[^;]*; \S+ version: (\d+)(?:\.\d+)*/.exec(text);
  if (versions || /server version mismatch/.test(text)) {
    const [server, client] = [versions?.[1], versions?.[2]];
    return new KitError('IO', `${tool} ${client ?? '(older)'} cannot dump a PostgreSQL ${server ?? '(newer)'} server: server version mismatch (pg_dump must be at least as new as the server)`, { hint: clientHint(server) });
  }
  // pg_restore reading a dump written by a newer pg_dump: "unsupported version (1.16) in file header"
  if (/unsupported version .* in file header/.test(text)) {
    return new KitError('IO', `${tool} is older than the pg_dump that wrote this backup: ${lines.find((line) => /unsupported version/.test(line))}`, { hint: clientHint() });
  }
  const message = lines.find((line) => /\b(error|fatal|ERROR|FATAL)\b/.test(line)) ?? lines[0] ?? 'exited with an error';
  const detail = lines.find((line) => /\b(detail|DETAIL|hint|HINT):/.test(line));
  const lockHint = /lock timeout/.test(text) ? 'Another session holds the tables: stop the apps (and any open session) first, then restore again.' : undefined;
  return new KitError('IO', `${tool} failed: ${message}${detail ? ` (${detail.replace(/^\S+:\s*/, '')})` : ''}`, { hint: lockHint });
}
