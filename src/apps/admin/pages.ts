/** The panel's pages, one function each, from the rows data.ts reads. */
import { html } from 'hono/html';
import { describeDatasource, maskSecrets, type DatabaseTarget } from '../../db.ts';
import { displayPath } from '../../runtime/history.ts';
import type { CheckReport } from '../../authoring/check.ts';
import type { listPacks, listToolLogs, listUsers, threadWithMessages, userWithThreads, ToolLogFilter } from './data.ts';
import { MESSAGE_CHARS } from './limits.ts';
import { migrationLines, notReadyReason, type Snapshot } from './migrations.ts';
import { bdi, csrfField, excerpt, isolate, layout, pager, timestamp, type Viewer } from './views.ts';

type Rows<F extends (...args: never[]) => unknown> = NonNullable<Awaited<ReturnType<F>>>;

function duration(started: Date, finished: Date | null | undefined): string {
  if (!finished) return '—';
  const ms = finished.getTime() - started.getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function migrationsPage(viewer: Viewer, target: DatabaseTarget, snap: Snapshot, check?: CheckReport | { error: string }) {
  const reason = notReadyReason(snap);
  const lines = migrationLines(snap);
  const counts = lines.reduce<Record<string, number>>((acc, l) => ({ ...acc, [l.state]: (acc[l.state] ?? 0) + 1 }), {});
  return layout(
    'Migrations',
    viewer,
    html`<p>Datasource: ${maskSecrets(describeDatasource(target), target)}<br>Provider: ${target.provider}<br>Migrations folder: ${displayPath(snap.history.dir)}</p>
<p>Status: <strong id="readiness">${reason ? `not ready (${reason})` : 'ready'}</strong>
 · ${Object.entries(counts).map(([state, n]) => html`<span class="${state}">${n} ${state}</span> `)}</p>
<table id="migrations">
<thead><tr><th>Migration</th><th>State</th><th>Started</th><th>Finished</th><th>Duration</th><th>Logs</th></tr></thead>
<tbody>
${lines.length
  ? lines.map(
      ({ name, state, row }) =>
        html`<tr data-migration="${name}"><td><code>${name}</code></td><td class="${state === '?' ? 'unknown' : state}">${state}</td><td>${row ? timestamp(row.started_at) : '—'}</td><td>${row ? timestamp(row.finished_at) : '—'}</td><td>${row ? duration(row.started_at, row.finished_at) : '—'}</td><td>${row?.logs ? html`<pre>${row.logs}</pre>` : ''}</td></tr>`,
    )
  : html`<tr><td colspan="6">no migrations</td></tr>`}
</tbody>
</table>
<h2>Production check</h2>
<form method="post" action="/migrations/check">${csrfField(viewer)}<button type="submit">Run the production check</button> (read-only: pending, failed, edited, unknown, drift)</form>
${check ? checkResult(check) : ''}`,
  );
}

function checkResult(check: CheckReport | { error: string }) {
  if ('error' in check) return html`<p class="error" id="check-result">The check could not run: ${check.error}</p>`;
  return html`<div id="check-result"><p class="${check.ok ? 'ok' : 'error'}"><strong>${check.ok ? '✓ The database matches this release.' : '✗ Action needed.'}</strong></p>
<table><thead><tr><th>Check</th><th>Result</th><th>Detail</th><th>Next step</th></tr></thead><tbody>
${check.checks.map(
  (c) =>
    html`<tr data-check="${c.id}"><td>${c.id}</td><td class="${c.ok === false ? 'error' : 'ok'}">${c.ok === null ? 'not checked' : c.ok ? '✓' : '✗'}</td><td><pre>${c.detail}</pre></td><td>${c.hint ? html`<code>${c.hint}</code>` : ''}</td></tr>`,
)}
</tbody></table></div>`;
}

export function usersPage(viewer: Viewer, q: string | undefined, page: Rows<typeof listUsers>) {
  return layout(
    'Users',
    viewer,
    html`<form method="get" action="/users"><label>Search by username or telegram id <input type="text" name="q" value="${q ?? ''}"></label> <button type="submit">Search</button></form>
<table id="users"><thead><tr><th>Id</th><th>Telegram id</th><th>Username</th><th>Name</th><th>Pack</th><th>Threads</th><th>Created</th></tr></thead><tbody>
${page.rows.length
  ? page.rows.map(
      (u) =>
        html`<tr><td><a href="/users/${u.id}">${u.id}</a></td><td>${u.telegramId.toString()}</td><td><a href="/users/${u.id}">${u.username ?? '—'}</a></td><td>${[u.firstName, u.lastName].filter(Boolean).join(' ') || '—'}</td><td>${u.pack?.name ?? '—'}</td><td>${u._count.threads}</td><td>${timestamp(u.createdAt)}</td></tr>`,
    )
  : html`<tr><td colspan="7">${q ? 'No user matches.' : 'No users yet.'}</td></tr>`}
</tbody></table>
${pager('/users', { q }, page.paging, page.total)}`,
  );
}

export function userPage(viewer: Viewer, user: Rows<typeof userWithThreads>) {
  return layout(
    `User ${isolate(user.username ?? user.telegramId.toString())}`,
    viewer,
    html`<p>Telegram id ${user.telegramId.toString()} · ${bdi([user.firstName, user.lastName].filter(Boolean).join(' ') || 'no name')} · language ${bdi(user.languageCode ?? '—')} · pack ${bdi(user.pack?.name ?? '—')} · since ${timestamp(user.createdAt)}</p>
<h2>Threads</h2>
<table id="threads"><thead><tr><th>Thread</th><th>Chat</th><th>Messages</th><th>Updated</th></tr></thead><tbody>
${user.threads.length
  ? user.threads.map((t) => html`<tr><td><a href="/threads/${t.id}">${t.title ?? `Thread ${t.id}`}</a></td><td>${t.chatId.toString()}</td><td>${t._count.messages}</td><td>${timestamp(t.updatedAt)}</td></tr>`)
  : html`<tr><td colspan="4">No threads.</td></tr>`}
</tbody></table>
${pager(`/users/${user.id}`, {}, user.paging, user.total)}
<p><a href="/users">← all users</a></p>`,
  );
}

/** A message's text, cut after MESSAGE_CHARS characters (the page stays bounded), saying so. */
function messageText(content: string) {
  if (content.length <= MESSAGE_CHARS) return html`<pre dir="auto">${content}</pre>`;
  return html`<pre dir="auto">${excerpt(content, MESSAGE_CHARS)}</pre><p class="cut">Cut after ${MESSAGE_CHARS} characters: the message has ${content.length}.</p>`;
}

/**
 * One page of a thread's messages. A reply links to the message it answers: on this
 * page by its anchor, elsewhere through /messages/:id, which finds its page.
 */
export function threadPage(viewer: Viewer, thread: Rows<typeof threadWithMessages>) {
  const who = thread.user.username ?? thread.user.telegramId.toString();
  const shown = new Set(thread.messages.map((m) => m.id));
  const linkTo = (id: number) => (shown.has(id) ? `#message-${id}` : `/messages/${id}`);
  return layout(
    thread.title === null ? `Thread ${thread.id}` : isolate(thread.title),
    viewer,
    html`<p>User <a href="/users/${thread.user.id}">${bdi(who)}</a> · chat ${thread.chatId.toString()} · ${thread.total} messages</p>
<div id="messages">
${thread.messages.map(
  (m) => html`<div class="message" id="message-${m.id}"><div><strong>${bdi(m.role)}</strong> · #${m.id} · ${timestamp(m.createdAt)}${m._count.toolLogs ? html` · <a href="/tool-logs?message=${m.id}">${m._count.toolLogs} tool call${m._count.toolLogs === 1 ? '' : 's'}</a>` : ''}</div>
${m.replyTo
  ? html`<div class="reply">↪ in reply to <a href="${linkTo(m.replyTo.id)}">#${m.replyTo.id}</a> (${bdi(m.replyTo.role)}): ${bdi(excerpt(m.replyTo.content))}</div>`
  : m.replyToText
    ? html`<div class="reply">↪ in reply to a Telegram message: ${bdi(excerpt(m.replyToText))}</div>`
    : ''}
${messageText(m.content)}</div>`,
)}
</div>
${pager(`/threads/${thread.id}`, {}, thread.paging, thread.total)}
<p><a href="/users/${thread.user.id}">← ${bdi(who)}'s threads</a></p>`,
  );
}

export function packsPage(viewer: Viewer, page: Rows<typeof listPacks>, form: { error?: string; flash?: string; name?: string; description?: string; packId?: number } = {}) {
  const message = form.error ? html`<p class="form-error" role="alert">${form.error}</p>` : form.flash ? html`<p class="flash" role="status">${form.flash}</p>` : '';
  return layout(
    'Packs',
    viewer,
    html`${message}
<table id="packs"><thead><tr><th>Pack</th><th>Description</th><th>Users</th><th>Default</th><th>Edit</th></tr></thead><tbody>
${page.rows.map(
  (p) => html`<tr data-pack="${p.name}"><td>${p.name}</td><td>${p.description ?? ''}</td><td>${p._count.users}</td>
<td>${p.isDefault ? html`<strong class="default">default</strong>` : html`<form method="post" action="/packs/${p.id}/default">${csrfField(viewer)}<button type="submit">Make default</button></form>`}</td>
<td><form method="post" action="/packs/${p.id}">${csrfField(viewer)}<input type="text" name="name" aria-label="Name of ${p.name}" value="${form.packId === p.id && form.name !== undefined ? form.name : p.name}"> <input type="text" name="description" aria-label="Description of ${p.name}" value="${form.packId === p.id && form.description !== undefined ? form.description : (p.description ?? '')}"> <button type="submit">Save</button></form></td></tr>`,
)}
</tbody></table>
${pager('/packs', {}, page.paging, page.total)}
<h2>New pack</h2>
<form method="post" action="/packs" id="new-pack">${csrfField(viewer)}
<label>Name <input type="text" name="name" value="${form.packId === undefined ? (form.name ?? '') : ''}"></label>
<label>Description <textarea name="description">${form.packId === undefined ? (form.description ?? '') : ''}</textarea></label>
<button type="submit">Create</button></form>`,
  );
}

export function toolLogsPage(viewer: Viewer, filter: ToolLogFilter & { message?: number }, page: Rows<typeof listToolLogs>) {
  const filters = { tool: filter.tool, session: filter.session, success: filter.success === undefined ? undefined : String(filter.success), message: filter.message?.toString() };
  const option = (value: string, label: string, selected: boolean) => html`<option value="${value}"${selected ? html` selected` : ''}>${label}</option>`;
  return layout(
    'MCP tool logs',
    viewer,
    html`<form method="get" action="/tool-logs">
<label>Tool <select name="tool">${option('', 'any', !filter.tool)}${page.tools.map((t) => option(t, t, t === filter.tool))}</select></label>
<label>Session <input type="text" name="session" value="${filter.session ?? ''}"></label>
<label>Result <select name="success">${option('', 'any', filter.success === undefined)}${option('true', 'succeeded', filter.success === true)}${option('false', 'failed', filter.success === false)}</select></label>
${filter.message ? html`<input type="hidden" name="message" value="${filter.message}">` : ''}
<button type="submit">Filter</button></form>
<table id="tool-logs"><thead><tr><th>When</th><th>Tool</th><th>Result</th><th>Duration</th><th>Session</th><th>Input</th><th>Output / error</th><th>Message</th></tr></thead><tbody>
${page.rows.length
  ? page.rows.map(
      (l) => html`<tr><td>${timestamp(l.createdAt)}</td><td>${l.toolName}</td><td class="${l.success ? 'ok' : 'error'}">${l.success ? 'ok' : 'failed'}</td><td>${l.durationMs} ms</td><td>${l.sessionId ?? '—'}</td><td><pre>${excerpt(l.input, 300)}</pre></td><td><pre>${excerpt(l.error ?? l.output ?? '', 300)}</pre></td>
<td>${l.message ? html`<a href="/messages/${l.message.id}">#${l.message.id}</a>` : '—'}</td></tr>`,
    )
  : html`<tr><td colspan="8">No tool calls match.</td></tr>`}
</tbody></table>
${pager('/tool-logs', filters, page.paging, page.total)}`,
  );
}
