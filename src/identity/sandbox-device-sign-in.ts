// Completes a device-code sign-in at the sandbox provider the way the person
// would in a browser: open the verification page, enter the code, confirm,
// name themself on the sign-in page. `t2t login --as <upn>` uses it in the
// sandbox (only there: the sandbox provider has no passwords), and the tests
// use it as the admin at the browser.
import https from 'node:https';

interface Page {
  status: number;
  location?: string;
  body: string;
}

class Browser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly ca: string) {}

  request(method: 'GET' | 'POST', url: string, form?: Record<string, string>): Promise<Page> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers, ca: this.ca, timeout: 30_000 }, (res) => {
        for (const cookie of res.headers['set-cookie'] ?? []) {
          const [pair] = cookie.split(';');
          const i = pair.indexOf('=');
          this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  }
}

function formOf(html: string, id: string): { action: string; fields: Record<string, string> } | undefined {
  const match = new RegExp(`<form[^>]*id="${id.replace('.', '\\.')}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  if (!match) return undefined;
  const action = /action="([^"]*)"/.exec(match[0])?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const input of match[1].matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name) fields[name] = value;
  }
  return { action, fields };
}

/** Enters the code and signs in as `upn`; throws with the page's words when the provider refuses. */
export async function completeSandboxDeviceCode(options: { verificationUri: string; userCode: string; upn: string; ca: string }): Promise<void> {
  const browser = new Browser(options.ca);
  let url = options.verificationUri;
  let page = await browser.request('GET', url);
  for (let step = 0; step < 20; step++) {
    if (page.status >= 300 && page.status < 400 && page.location) {
      url = new URL(page.location, url).href;
      page = await browser.request('GET', url);
      continue;
    }
    const input = formOf(page.body, 'op.deviceInputForm');
    const confirm = formOf(page.body, 'op.deviceConfirmForm');
    const login = formOf(page.body, 'login');
    const next: { form: { action: string; fields: Record<string, string> }; extra: Record<string, string> } | undefined = input ? { form: input, extra: { user_code: options.userCode } } : confirm ? { form: confirm, extra: {} } : login ? { form: login, extra: { login: options.upn } } : undefined;
    if (!next) {
      if (/<h1>Signed in<\/h1>/.test(page.body)) return;
      const said = /<p>([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? `status ${page.status}`;
      throw new Error(`the identity provider did not sign ${options.upn} in: ${said}`);
    }
    if (login && /No enabled user/.test(page.body)) throw new Error(`the sandbox world has no enabled user ${options.upn}`);
    url = new URL(next.form.action || url, url).href;
    page = await browser.request('POST', url, { ...next.form.fields, ...next.extra });
  }
  throw new Error('the sign-in pages went round in circles');
}
