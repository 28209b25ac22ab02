// Reads the container name out of a container URI "up to the container name",
// with or without its SAS query. Pure string work: workflow code uses it too.
//   https://account.blob.core.windows.net/<container>?sv=...   (Azure)
//   http://127.0.0.1:10000/<account>/<container>?sv=...        (emulator, path-style)
export function containerNameFromUri(uri: string): string | undefined {
  const match = /^https?:\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/.exec(uri.trim());
  if (!match) return undefined;
  const segments = (match[2] ?? '').split('/').filter(Boolean);
  if (segments.length === 0) return undefined;
  const host = match[1];
  const pathStyle = /^(\d+\.\d+\.\d+\.\d+|localhost|\[[0-9a-f:]+\])(:\d+)?$/i.test(host) || !host.includes('.');
  const expected = pathStyle ? 2 : 1;
  if (segments.length !== expected) return undefined;
  const name = segments[expected - 1];
  return /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name) ? name : undefined;
}

/** The container URI without its query: what prepare needs and what is safe to print. */
export function stripQuery(uri: string): string {
  const q = uri.indexOf('?');
  return q === -1 ? uri : uri.slice(0, q);
}
