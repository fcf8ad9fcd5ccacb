/**
 * The admin panel process (the migrator's container in production). For now it
 * serves what operators and orchestrators need: liveness, readiness (database
 * reachable and holding every migration of this image) and a read-only page of
 * the migration history. node:http only; the database is never written.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeDatasource, maskSecrets, openConnection, parseDatabaseUrl, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { displayPath, readHistory, type History } from '../runtime/history.ts';
import { readStatus, type MigrationStatus } from '../runtime/status.ts';

export interface AdminPanelOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: all interfaces, as a container needs. */
  host?: string;
  /** Default: parsed from DATABASE_URL. */
  target?: DatabaseTarget;
  /** The migrations folder to compare with (default: the provider's folder under PRISMA_DIR or prisma/). */
  migrationsDir?: string;
}

export interface AdminPanel {
  server: Server;
  /** Where to open it, e.g. http://localhost:3000. */
  url: string;
  close(): Promise<void>;
}

type MigrationState = 'applied' | 'pending' | 'failed' | 'edited' | 'unknown';

/** What one look at the database found; `error` when it could not be reached. */
interface Snapshot {
  history: History;
  status?: MigrationStatus;
  error?: string;
}

export async function startAdminPanel(options: AdminPanelOptions): Promise<AdminPanel> {
  const target = options.target ?? parseDatabaseUrl();
  // Probes may arrive in bursts: concurrent requests share one look at the database,
  // so the panel never holds more than one connection.
  let inflight: Promise<Snapshot> | undefined;
  const look = () => (inflight ??= snapshot(target, options.migrationsDir).finally(() => (inflight = undefined)));

  const server = createServer((req, res) => {
    handle(req, res, target, look).catch((error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${maskSecrets(errorMessage(error), target)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = !options.host || ['0.0.0.0', '::'].includes(options.host) ? 'localhost' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // keep-alive sockets would hold close() open
      await closed;
      await inflight?.catch(() => {}); // let an open connection finish and close
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, target: DatabaseTarget, look: () => Promise<Snapshot>): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const routes: Record<string, () => Promise<void>> = {
    '/healthz': async () => send(res, 200, 'text/plain; charset=utf-8', 'ok\n'),
    '/readyz': async () => {
      const reason = notReadyReason(await look());
      send(res, reason ? 503 : 200, 'application/json', `${JSON.stringify(reason ? { status: 'not-ready', reason } : { status: 'ready' })}\n`);
    },
    '/': async () => send(res, 200, 'text/html; charset=utf-8', renderPage(target, await look())),
  };
  const route = routes[path];
  if (!route) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  await route();
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** One short read-only connection: open, read the history table, close. */
async function snapshot(target: DatabaseTarget, migrationsDir?: string): Promise<Snapshot> {
  const history = readHistory(target.provider, migrationsDir);
  let conn;
  try {
    // No retries: a probe must answer now; the orchestrator asks again.
    conn = await openConnection(target, { readonly: true, waitMs: 0, applicationName: 'rastar-admin-panel' });
    return { history, status: await readStatus(conn, history) };
  } catch (error) {
    return { history, error: maskSecrets(errorMessage(error), target) };
  } finally {
    await conn?.close();
  }
}

/** Ready means: reachable, every migration of this image applied, none failed (the gate's rule). */
export function notReadyReason(snap: Snapshot): string | undefined {
  if (snap.error !== undefined || !snap.status) return `database unreachable: ${snap.error ?? 'unknown error'}`;
  const { failed, pending } = snap.status;
  if (failed.length) return `migration${failed.length > 1 ? 's' : ''} ${failed.map((f) => f.name).join(', ')} failed`;
  if (pending.length) return `${pending.length} pending migration${pending.length > 1 ? 's' : ''}: ${pending.join(', ')}`;
  return undefined;
}

function migrationStates(snap: Snapshot): { name: string; state: MigrationState | '?' }[] {
  const status = snap.status;
  if (!status) return snap.history.migrations.map((m) => ({ name: m.name, state: '?' }));
  const failed = new Set(status.failed.map((f) => f.name));
  const rows = snap.history.migrations.map(({ name }) => ({
    name,
    state: (status.edited.includes(name) ? 'edited' : status.applied.includes(name) ? 'applied' : failed.has(name) ? 'failed' : 'pending') as MigrationState,
  }));
  // Failed rows for migrations absent from the folder would otherwise go unseen.
  const extraFailed = [...failed].filter((name) => !rows.some((r) => r.name === name)).map((name) => ({ name, state: 'failed' as const }));
  return [...rows, ...extraFailed, ...status.unknown.map((name) => ({ name, state: 'unknown' as const }))];
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderPage(target: DatabaseTarget, snap: Snapshot): string {
  const reason = notReadyReason(snap);
  const datasource = describeDatasource(target);
  const rows = migrationStates(snap)
    .map(({ name, state }) => `<tr><td><code>${escapeHtml(name)}</code></td><td class="${escapeHtml(state === '?' ? 'unknown' : state)}">${escapeHtml(state)}</td></tr>`)
    .join('\n');
  // Everything interpolated is escaped: names come from folders and the database.
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>rastar admin panel</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.applied{color:#080}.pending{color:#a60}.failed,.edited,.unknown{color:#c00}</style>
</head>
<body>
<h1>rastar admin panel</h1>
<p>Datasource: ${escapeHtml(maskSecrets(datasource, target))}<br>Provider: ${escapeHtml(target.provider)}<br>Migrations folder: ${escapeHtml(displayPath(snap.history.dir))}</p>
<p>Status: <strong>${escapeHtml(reason ? `not ready (${reason})` : 'ready')}</strong></p>
<table>
<thead><tr><th>Migration</th><th>State</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="2">no migrations</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}

/** PORT from the environment: default 3000, an integer 0–65535 otherwise a usage error. */
export function parsePort(raw: string | undefined, fallback = 3000): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KitError('BAD_USAGE', `PORT must be an integer between 0 and 65535, got "${raw}"`);
  }
  return port;
}
