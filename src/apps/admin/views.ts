/**
 * The panel's pages: server-rendered HTML through Hono's `html` tag, which
 * escapes every interpolated value (names, messages and logs come from users and
 * the database). No script runs in the browser.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { PAGE_SIZE, type Paging } from './params.ts';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export const STYLESHEET = `
body{font-family:system-ui,sans-serif;margin:0;color:#222;overflow-wrap:anywhere}
header{background:#223;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}header form{margin-left:auto}
main{padding:1rem 1.5rem;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
.applied,.ok{color:#080}.pending{color:#a60}.failed,.edited,.unknown,.error{color:#c00}
.flash{background:#efe;border:1px solid #8c8;padding:.4rem .8rem}.form-error{background:#fee;border:1px solid #c88;padding:.4rem .8rem}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.4rem;margin:.2rem 0;max-width:60rem}
.message{border-left:3px solid #ccd;padding:.2rem .8rem;margin:.6rem 0}.message:target{background:#ffd}
.reply{color:#555;font-size:.9em}.login{max-width:22rem;margin:4rem auto}.login label{display:block;margin:.6rem 0}
input[type=text],input[type=password],textarea{width:100%;box-sizing:border-box}select{max-width:100%}nav.pager{margin:.5rem 0}
`;

export interface Viewer {
  username: string;
  csrf: string;
}

export function layout(title: string, viewer: Viewer | undefined, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title} · rastar admin</title><link rel="stylesheet" href="/assets/panel.css"></head>
<body>
<header><strong>rastar admin</strong>${viewer
    ? html`<a href="/migrations">Migrations</a><a href="/users">Users</a><a href="/packs">Packs</a><a href="/tool-logs">Tool logs</a>
<form method="post" action="/logout">${csrfField(viewer)}<span>${bdi(viewer.username)}</span> <button type="submit">Log out</button> <button type="submit" formaction="/logout/everywhere">Log out everywhere</button></form>`
    : ''}</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`;
}

export const csrfField = (viewer: Viewer) => html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;

export function loginPage(csrf: string, options: { error?: string; username?: string; next?: string }): Html {
  return layout(
    'Log in',
    undefined,
    html`<form class="login" method="post" action="/login">
${options.error ? html`<p class="form-error" role="alert">${options.error}</p>` : ''}
<input type="hidden" name="_csrf" value="${csrf}">
${options.next ? html`<input type="hidden" name="next" value="${options.next}">` : ''}
<label>User name <input type="text" name="username" autocomplete="username" required value="${options.username ?? ''}"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>`,
  );
}

export function errorPage(title: string, message: string, viewer?: Viewer): Html {
  return layout(title, viewer, html`<p class="error">${message}</p>`);
}

/** Epoch milliseconds (or a Date) as `2026-12-03 09:18:57 UTC`. */
export function timestamp(value: bigint | number | Date | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = value instanceof Date ? value : new Date(Number(value));
  return Number.isNaN(date.getTime()) ? '—' : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Previous/next links that keep the page's filters. */
export function pager(path: string, filters: Record<string, string | undefined>, { page, size }: Paging, total: number): Html {
  const pages = Math.max(1, Math.ceil(total / size));
  const link = (to: number) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    query.set('page', String(to));
    if (size !== PAGE_SIZE) query.set('size', String(size));
    return `${path}?${query}`;
  };
  return html`<nav class="pager">Page ${page} of ${pages} (${total} in all)
${page > 1 ? html` · <a href="${link(Math.min(page - 1, pages))}" rel="prev">previous</a>` : ''}${page < pages ? html` · <a href="${link(page + 1)}" rel="next">next</a>` : ''}</nav>`;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * At most `length` characters of `text`, the last an ellipsis when it is cut. A
 * character is what a reader sees as one (a grapheme): an emoji, a flag or a
 * letter with its accents is kept whole or left out, never cut in half.
 */
export function excerpt(text: string, length = 80): string {
  if (text.length <= length) return text; // no more graphemes than UTF-16 units
  let count = 0;
  let end = 0;
  for (const { index } of graphemes.segment(text)) {
    if (count === length - 1) end = index;
    else if (count === length) return `${text.slice(0, end)}…`;
    count++;
  }
  return text;
}

/**
 * User text made safe to isolate: a bidi paragraph separator becomes a space, a
 * PDI (U+2069) that closes no isolate of the text's own is dropped, and isolates
 * it leaves open are closed. Any of these would end the isolate around the text
 * early (in Chromium) and let its controls reorder the panel's own words.
 */
function isolable(text: string): string {
  let open = 0;
  const balanced = text.replace(/[\u001c-\u001e\u0085\u2029]/g, ' ').replace(/[\u2066-\u2069]/g, (c) => {
    if (c !== '\u2069') open++;
    else if (open > 0) open--;
    else return '';
    return c;
  });
  return balanced + '\u2069'.repeat(open);
}

/** User text among the panel's own words, as HTML: in a `<bdi>`, so neither its direction nor its bidi controls reach past it. */
export const bdi = (text: string): Html => html`<bdi>${isolable(text)}</bdi>`;

/** The same for plain text (a page title, a flash message): between FSI and PDI. */
export const isolate = (text: string): string => `\u2068${isolable(text)}\u2069`;
