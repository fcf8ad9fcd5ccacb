/**
 * What the panel reads and writes, through the app's generated client: the same
 * queries on SQLite and PostgreSQL. Pages get plain rows; timestamps stay the
 * schema's epoch milliseconds.
 */
import { empty, raw, sqltag } from '@prisma/client/runtime/client';
import type { AppClient, Provider } from '../../db.ts';
import { isUniqueViolation } from '../../errors.ts';
import type { Paging } from './params.ts';
import type { SessionStore } from './session.ts';

const window = ({ page, size }: Paging) => ({ skip: (page - 1) * size, take: size });

/**
 * Each id's count from a `groupBy` over one page's ids. Prisma's `_count` would join
 * a GROUP BY of the whole related table (every message of every thread, to show 25
 * of them): counted this way, a page costs what its own rows hold.
 */
function countsBy<K extends string>(groups: ({ _count: { _all: number } } & { [key in K]: number | null })[], key: K): (id: number) => number {
  const counts = new Map<number | null, number>(groups.map((g) => [g[key], g._count._all]));
  return (id) => counts.get(id) ?? 0;
}

/** The escape character of the users search's LIKE pattern (sent as a parameter: no quoting rules to mind). */
const LIKE_ESCAPE = '\\';

/** `text` as a LIKE pattern that finds it anywhere, character for character: `%`, `_` and the escape character escaped. */
const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => LIKE_ESCAPE + c)}%`;

/**
 * Username contains `q` (any case), or the telegram id is `q`. The match is SQL of
 * our own, the same on both providers: Prisma's `contains` hands `%` and `_` to
 * LIKE as wildcards (on SQLite and on PostgreSQL) and takes no ESCAPE clause.
 */
export async function listUsers(client: AppClient, provider: Provider, q: string | undefined, paging: Paging) {
  const include = { pack: { select: { name: true } } } as const;
  const withThreads = async <U extends { id: number }>(users: U[]) => {
    const groups = await client.thread.groupBy({ by: ['userId'], where: { userId: { in: users.map((u) => u.id) } }, _count: { _all: true } });
    const threads = countsBy(groups, 'userId');
    return users.map((u) => ({ ...u, _count: { threads: threads(u.id) } }));
  };
  if (!q) {
    const [rows, total] = await Promise.all([client.user.findMany({ orderBy: { id: 'asc' }, ...window(paging), include }), client.user.count()]);
    return { rows: await withThreads(rows), total, paging };
  }
  const telegramId = /^\d{1,19}$/.test(q) && BigInt(q) < 2n ** 63n ? BigInt(q) : undefined;
  // PostgreSQL's LIKE tells case apart and ILIKE does not; SQLite's LIKE already ignores ASCII case (and knows no ILIKE).
  const matches = sqltag`("username" ${raw(provider === 'postgresql' ? 'ILIKE' : 'LIKE')} ${containsPattern(q)} ESCAPE ${LIKE_ESCAPE}${telegramId === undefined ? empty : sqltag` OR "telegramId" = ${telegramId}`})`;
  const { skip, take } = window(paging);
  const [page, counted] = await Promise.all([
    client.$queryRaw<{ id: number }[]>`SELECT "id" FROM "User" WHERE ${matches} ORDER BY "id" LIMIT ${take} OFFSET ${skip}`,
    client.$queryRaw<{ total: number | bigint }[]>`SELECT COUNT(*) AS "total" FROM "User" WHERE ${matches}`,
  ]);
  const rows = await client.user.findMany({ where: { id: { in: page.map((r) => Number(r.id)) } }, orderBy: { id: 'asc' }, include });
  return { rows: await withThreads(rows), total: Number(counted[0]?.total ?? 0), paging };
}

/** A user and one page of their threads, the most recently active first. */
export async function userWithThreads(client: AppClient, id: number, paging: Paging) {
  const [user, threads, total] = await Promise.all([
    client.user.findUnique({ where: { id }, include: { pack: { select: { id: true, name: true } } } }),
    client.thread.findMany({ where: { userId: id }, orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }], ...window(paging) }),
    client.thread.count({ where: { userId: id } }),
  ]);
  if (!user) return null;
  const groups = await client.message.groupBy({ by: ['threadId'], where: { threadId: { in: threads.map((t) => t.id) } }, _count: { _all: true } });
  const messages = countsBy(groups, 'threadId');
  return { ...user, threads: threads.map((t) => ({ ...t, _count: { messages: messages(t.id) } })), total, paging };
}

/**
 * A thread and one page of its messages in the order they were written (the id breaks
 * ties, so pages never overlap), each with what it replies to (which may be on another
 * page) and its count of tool calls. The page's ids come from the `(threadId,
 * createdAt)` index alone (the rowid completes it on SQLite), so skipping to a deep
 * page reads no message; on SQLite every query holds the event loop while it runs.
 */
export async function threadWithMessages(client: AppClient, id: number, paging: Paging) {
  const { skip, take } = window(paging);
  const [thread, page, counted] = await Promise.all([
    client.thread.findUnique({ where: { id }, include: { user: { select: { id: true, username: true, telegramId: true } } } }),
    client.$queryRaw<{ id: number | bigint }[]>`SELECT "id" FROM "Message" WHERE "threadId" = ${id} ORDER BY "createdAt", "id" LIMIT ${take} OFFSET ${skip}`,
    client.$queryRaw<{ total: number | bigint }[]>`SELECT COUNT(*) AS "total" FROM "Message" WHERE "threadId" = ${id}`,
  ]);
  if (!thread) return null;
  const ids = page.map((r) => Number(r.id));
  const [messages, toolLogs] = await Promise.all([
    client.message.findMany({ where: { id: { in: ids } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], include: { replyTo: { select: { id: true, role: true, content: true } } } }),
    client.mcpToolLog.groupBy({ by: ['messageId'], where: { messageId: { in: ids } }, _count: { _all: true } }).then((groups) => countsBy(groups, 'messageId')),
  ]);
  return { ...thread, messages: messages.map((m) => ({ ...m, _count: { toolLogs: toolLogs(m.id) } })), total: Number(counted[0]?.total ?? 0), paging };
}

/** Where a message is shown: its thread, and the page of `size` messages that holds it. */
export async function messagePlace(client: AppClient, id: number, size: number): Promise<{ threadId: number; page: number } | undefined> {
  const message = await client.message.findUnique({ where: { id }, select: { threadId: true, createdAt: true } });
  if (!message) return undefined;
  const { threadId, createdAt } = message;
  const before = await client.message.count({ where: { threadId, OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] } });
  return { threadId, page: Math.floor(before / size) + 1 };
}

export interface ToolLogFilter {
  tool?: string;
  session?: string;
  success?: boolean;
  message?: number;
}

export async function listToolLogs(client: AppClient, filter: ToolLogFilter, paging: Paging) {
  const where = { toolName: filter.tool, sessionId: filter.session, success: filter.success, messageId: filter.message };
  const [rows, total, tools] = await Promise.all([
    client.mcpToolLog.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], ...window(paging), include: { message: { select: { id: true } } } }),
    client.mcpToolLog.count({ where }),
    toolNames(client),
  ]);
  return { rows, total, paging, tools };
}

/** The tool filter's choices: at most this many names. */
export const MAX_TOOL_NAMES = 200;

/**
 * The tools' names in order, from the `(toolName, createdAt)` index one name at a
 * time (a loose index scan, the same SQL on both providers): the cost grows with
 * the number of tools, not of logs. (Prisma's `distinct` would read every log's name.)
 */
async function toolNames(client: AppClient): Promise<string[]> {
  const rows = await client.$queryRaw<{ name: string | null }[]>`
    WITH RECURSIVE "names"("name", "n") AS (
      SELECT MIN("toolName"), 1 FROM "McpToolLog"
      UNION ALL
      SELECT (SELECT MIN("toolName") FROM "McpToolLog" WHERE "toolName" > "names"."name"), "n" + 1 FROM "names" WHERE "names"."name" IS NOT NULL AND "n" < ${raw(String(MAX_TOOL_NAMES))}
    )
    SELECT "name" FROM "names" WHERE "name" IS NOT NULL ORDER BY "n"`;
  return rows.map((r) => r.name as string);
}

// ---------------------------------------------------------------------------
// Packs

export const MAX_PACK_NAME = 100;
export const MAX_PACK_DESCRIPTION = 2000;

export async function listPacks(client: AppClient, paging: Paging) {
  const [rows, total] = await Promise.all([client.pack.findMany({ orderBy: { id: 'asc' }, ...window(paging) }), client.pack.count()]);
  const groups = await client.user.groupBy({ by: ['packId'], where: { packId: { in: rows.map((p) => p.id) } }, _count: { _all: true } });
  const users = countsBy(groups, 'packId');
  return { rows: rows.map((p) => ({ ...p, _count: { users: users(p.id) } })), total, paging };
}

export function findPack(client: AppClient, id: number) {
  return client.pack.findUnique({ where: { id }, select: { id: true, name: true } });
}

export interface PackInput {
  name: string;
  description: string;
}

/** The form's problem with this input, or undefined when it may be written. */
export function packInputError({ name, description }: PackInput): string | undefined {
  if (!name) return 'The name must not be empty.';
  if (name.length > MAX_PACK_NAME) return `The name must be at most ${MAX_PACK_NAME} characters.`;
  if (description.length > MAX_PACK_DESCRIPTION) return `The description must be at most ${MAX_PACK_DESCRIPTION} characters.`;
  return undefined;
}

export type PackWrite = { ok: true; id: number } | { ok: false; error: string };

const nameTaken = (name: string): PackWrite => ({ ok: false, error: `A pack named "${name}" already exists.` });

export async function createPack(client: AppClient, input: PackInput): Promise<PackWrite> {
  const now = BigInt(Date.now());
  try {
    const { id } = await client.pack.create({ data: { name: input.name, description: input.description || null, createdAt: now, updatedAt: now }, select: { id: true } });
    return { ok: true, id };
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

/** Rename and describe; false when the pack does not exist. */
export async function updatePack(client: AppClient, id: number, input: PackInput): Promise<PackWrite | undefined> {
  try {
    const { count } = await client.pack.updateMany({ where: { id }, data: { name: input.name, description: input.description || null, updatedAt: BigInt(Date.now()) } });
    return count === 1 ? { ok: true, id } : undefined;
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

const SET_DEFAULT_ATTEMPTS = 5;

/**
 * Make a pack the default: unset the old one and set the new one in one
 * transaction, so some pack is always the default; the `Pack_one_default` index
 * refuses a second. Two admins at once on PostgreSQL: the later transaction may
 * find the other's new default only at its own write (a unique violation) and
 * runs again, so the last click wins. False when the pack does not exist.
 */
export async function setDefaultPack(client: AppClient, id: number): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.$transaction(async (tx) => {
        if (!(await tx.pack.findUnique({ where: { id }, select: { id: true } }))) return false;
        const now = BigInt(Date.now());
        await tx.pack.updateMany({ where: { isDefault: true, id: { not: id } }, data: { isDefault: false, updatedAt: now } });
        await tx.pack.updateMany({ where: { id, isDefault: false }, data: { isDefault: true, updatedAt: now } });
        return true;
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // P2002: the other's default, seen at our write; P2034: a write conflict or deadlock.
      if (attempt < SET_DEFAULT_ATTEMPTS && (code === 'P2002' || code === 'P2034')) continue;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------
// Admins

export function findAdmin(client: AppClient, username: string) {
  return client.adminUser.findUnique({ where: { username }, select: { id: true, username: true, passwordHash: true } });
}

/** The panel's sessions, stored: a logout or a new password outlives a restart. */
export function sessionStore(client: AppClient): SessionStore {
  return {
    async create(row) {
      await client.adminSession.create({ data: { id: row.id, adminId: row.adminId, createdAt: BigInt(row.createdAt), expiresAt: BigInt(row.expiresAt) }, select: { id: true } });
    },
    async find(id) {
      const row = await client.adminSession.findUnique({ where: { id }, select: { adminId: true, expiresAt: true, admin: { select: { username: true } } } });
      return row ? { adminId: row.adminId, expiresAt: Number(row.expiresAt), username: row.admin.username } : undefined;
    },
    async delete(id) {
      await client.adminSession.deleteMany({ where: { id } });
    },
    async deleteAll(adminId) {
      await client.adminSession.deleteMany({ where: { adminId } });
    },
    async deleteExpired(now) {
      await client.adminSession.deleteMany({ where: { expiresAt: { lte: BigInt(now) } } });
    },
  };
}

export async function recordLogin(client: AppClient, id: number): Promise<void> {
  const now = BigInt(Date.now());
  await client.adminUser.update({ where: { id }, data: { lastLoginAt: now, updatedAt: now }, select: { id: true } });
}
