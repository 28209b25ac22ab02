// The sandbox provider's few HTML pages: plain, self-contained (no outside fonts
// or scripts: the sandbox runs without the internet).
import type { IncomingMessage } from 'node:http';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderPage(title: string, body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}input,button{font-size:1em;margin:.3em 0;display:block;width:100%}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** A posted form, limited in size: the pages post a user name and nothing more. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}
