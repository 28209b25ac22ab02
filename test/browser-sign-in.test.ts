// `t2t login --browser` as an admin runs it: the real command in its own process,
// Microsoft's library running the authorization code with PKCE on its loopback
// listener, the sandbox provider over https, and a person in headless Chromium,
// reached through the platform's opener (xdg-open on Linux, first on PATH here).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { NOT_SIGNED_IN } from '../src/identity/sign-in';
import type { OpenerReport } from './helpers/browser-opener';
import { startSandbox, stopSandbox, type Sandbox } from './helpers/identity';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const OPENER = path.join(__dirname, 'helpers', 'browser-opener.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `t2t` process; `stderrSoFar` lets a test read what it says while it waits. */
function t2t(env: NodeJS.ProcessEnv, args: string[], started: ChildProcess[]): { done: Promise<Run>; stderrSoFar: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += String(c)));
  child.stderr!.on('data', (c: Buffer) => (stderr += String(c)));
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { done, stderrSoFar: () => stderr };
}

async function until<T>(what: () => T | undefined): Promise<T> {
  for (;;) {
    const found = what();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function readReport(file: string): OpenerReport | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as OpenerReport) : undefined;
}

/** The person's browser has finished: it landed somewhere, or failed. */
function finishedReport(file: string): OpenerReport | undefined {
  const report = readReport(file);
  return report && (report.landed !== undefined || report.error !== undefined) ? report : undefined;
}

function getPage(url: string, ca: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      })
      .on('error', reject);
  });
}

interface TokenCache {
  AccessToken: Record<string, { secret: string }>;
  RefreshToken: Record<string, { secret: string }>;
}

const secretsOf = (cache: TokenCache) => ({
  access: Object.values(cache.AccessToken).map((t) => t.secret),
  refresh: Object.values(cache.RefreshToken).map((t) => t.secret),
});

/**
 * No cached token, nor its payload, in what a command printed. (The sign-in page's
 * address is printed, and its `state` is msal's base64 JSON: "eyJ" alone proves nothing there.)
 */
function assertNoToken(run: Run, cacheFile: string): void {
  const { access, refresh } = secretsOf(JSON.parse(readFileSync(cacheFile, 'utf8')) as TokenCache);
  const printed = run.stdout + run.stderr;
  for (const secret of [...access, ...refresh]) {
    assert.ok(!printed.includes(secret), 'no token in the output');
    for (const part of secret.split('.')) if (part.length > 20) assert.ok(!printed.includes(part), 'no part of a token in the output');
  }
  assert.ok(!/eyJ/.test(run.stdout), 'nothing token-like on stdout');
}

/** A person's browser given the address by hand: the same driver the opener runs. */
function openByHand(url: string, upn: string, report: string, started: ChildProcess[]): Promise<number | null> {
  const child = spawn(process.execPath, [OPENER, '--as', upn, '--report', report, url], { stdio: 'inherit' });
  started.push(child);
  return new Promise((resolve) => child.once('close', resolve));
}

describe('browser sign-in (t2t login --browser) @integration', function () {
  this.timeout(300_000);
  let sandbox: Sandbox;
  let dir: string;
  const started: ChildProcess[] = [];

  before(async () => {
    // Access tokens shorter than Microsoft's library's five minutes of headroom: every later
    // command refreshes, so a sign-in that left no refresh token shows at the first whoami.
    sandbox = await startSandbox({ accessToken: 120 });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-browser-'));
  });
  after(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill();
    await stopSandbox(sandbox);
  });

  /** The command's environment: the sandbox's, a home of its own, and PATH as given. */
  const envWith = (pathDirs: string[]): NodeJS.ProcessEnv => ({ ...sandbox.env, HOME: dir, PATH: pathDirs.join(path.delimiter) });

  /** A directory for PATH holding an `xdg-open` that hands the address to the person at headless Chromium. */
  function openerOnPath(name: string, driverArgs: string[]): { bin: string; report: string } {
    const bin = mkdtempSync(path.join(dir, 'bin-'));
    const report = path.join(dir, `${name}-report.json`);
    const opener = path.join(bin, 'xdg-open');
    const quoted = driverArgs.map((a) => `"${a}"`).join(' ');
    writeFileSync(opener, `#!/bin/sh\nexec "${process.execPath}" "${OPENER}" ${quoted} --report "${report}" "$1" >>"${report}.log" 2>&1 </dev/null\n`);
    chmodSync(opener, 0o755);
    return { bin, report };
  }

  const browserLog = (report: string) => (existsSync(`${report}.log`) ? readFileSync(`${report}.log`, 'utf8') : '');

  /**
   * `t2t login --browser` and the person at the browser it opened, both to their end. A browser that
   * failed fails the test with its own words at once: the command would wait for it indefinitely.
   */
  async function loginAtBrowser(env: NodeJS.ProcessEnv, report: string): Promise<{ login: Run; seen: OpenerReport }> {
    const command = t2t(env, ['login', '--browser'], started);
    let over = false;
    const failed = until(() => (over ? null : readReport(report)?.error));
    const ended = await Promise.race([command.done, failed]);
    over = true;
    if (ended === null) assert.fail('unreachable: the watch ends only after the race');
    if (typeof ended === 'string') assert.fail(`the browser: ${ended}\n${browserLog(report)}\nthe command: ${command.stderrSoFar()}`);
    const seen = await until(() => finishedReport(report));
    assert.equal(seen.error, undefined, `the browser: ${seen.error}\n${browserLog(report)}`);
    return { login: ended, seen };
  }

  it('signs a world user in through the browser with PKCE on a loopback redirect; whoami names them; logout forgets them', async () => {
    const { bin, report } = openerOnPath('signed-in', ['--as', 'admin@fabrikam.com']);
    const env = envWith([bin, process.env.PATH ?? '']);

    const { login, seen } = await loginAtBrowser(env, report);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /^Signed in as admin@fabrikam\.com \(tenant t-fabrikam\) until \d{4}-\d\d-\d\dT[\d:.]+Z\.\n$/);

    // The address the opener was given: the provider's authorization endpoint, PKCE with S256, a loopback redirect.
    const asked = new URL(seen.opened);
    assert.equal(`${asked.origin}${asked.pathname}`, `${sandbox.provider.issuer}/oauth2/v2.0/authorize`);
    assert.equal(asked.searchParams.get('response_type'), 'code');
    assert.equal(asked.searchParams.get('client_id'), sandbox.config.signIn.clientId);
    assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
    assert.match(asked.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(asked.searchParams.get('redirect_uri') ?? '', /^http:\/\/(localhost|127\.0\.0\.1):\d+\/?$/);
    // The browser ended at that listener, which took the code.
    assert.equal(new URL(seen.landed!).origin, new URL(asked.searchParams.get('redirect_uri')!).origin);
    assert.equal(seen.text, 'Signed in to t2t: you can close this page and go back to the command.');

    // The person was shown the page too, in one line, in case no browser had opened.
    assert.equal(login.stderr, `Sign in in the browser that opened; if none did, open this page in a browser on this machine: ${seen.opened}\n`);

    // The tokens are in the owner-only cache, and nowhere in what the command printed.
    const cacheFile = sandbox.config.signIn.tokenCacheFile;
    assert.equal(statSync(cacheFile).mode & 0o777, 0o600);
    const afterLogin = secretsOf(JSON.parse(readFileSync(cacheFile, 'utf8')) as TokenCache);
    assert.equal(afterLogin.access.length, 1, 'an access token is cached');
    assert.equal(afterLogin.refresh.length, 1, 'a refresh token is cached: the sign-in outlasts its first access token');
    assertNoToken(login, cacheFile);

    const whoami = await t2t(env, ['whoami'], started).done;
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.match(whoami.stdout, /^Tenant: +t-fabrikam$/m);
    assert.match(whoami.stdout, /^User: +admin@fabrikam\.com \(object id [0-9a-f-]{36}\)$/m);
    const expires = /^Expires: +(\S+)$/m.exec(whoami.stdout);
    assert.ok(expires && Date.parse(expires[1]) > Date.now(), whoami.stdout);
    assertNoToken(whoami, cacheFile);
    // whoami refreshed the short-lived access token with the browser sign-in's refresh token.
    const afterWhoami = secretsOf(JSON.parse(readFileSync(cacheFile, 'utf8')) as TokenCache);
    assert.notDeepEqual(afterWhoami.access, afterLogin.access, 'a new access token');

    const logout = await t2t(env, ['logout'], started).done;
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(logout.stdout, 'Signed out.\n');
    assert.equal(existsSync(cacheFile), false);
    const nobody = await t2t(env, ['whoami'], started).done;
    assert.equal(nobody.code, 1);
    assert.equal(nobody.stderr, `t2t: ${NOT_SIGNED_IN}\n`);
  });

  it("a sign-in cancelled at the provider's page ends the login in one line, and the page sends the person back to the command", async () => {
    const { bin, report } = openerOnPath('cancelled', ['--as', 'admin@contoso.com', '--cancel']);
    const { login, seen } = await loginAtBrowser(envWith([bin, process.env.PATH ?? '']), report);
    assert.equal(seen.text, 'The sign-in to t2t did not complete: the command says why. You can close this page.');
    assert.equal(login.code, 1);
    assert.equal(login.stdout, '');
    const lines = login.stderr.split('\n');
    assert.match(lines[0], /^Sign in in the browser that opened; if none did, open this page in a browser on this machine: https:\/\/\S+$/);
    assert.deepEqual(lines.slice(1), ['t2t: the sign-in was refused (access_denied): the sign-in was cancelled at the sign-in page', '']);
    const nobody = await t2t(envWith([]), ['whoami'], started).done;
    assert.equal(nobody.stderr, `t2t: ${NOT_SIGNED_IN}\n`);
  });

  it('the provider refuses a sign-in without PKCE', async () => {
    const { provider, config, ca } = sandbox;
    const asked = (extra: Record<string, string>) => {
      const url = new URL(`${provider.issuer}/oauth2/v2.0/authorize`);
      url.search = new URLSearchParams({
        client_id: config.signIn.clientId,
        response_type: 'code',
        redirect_uri: 'http://localhost:5000',
        scope: `openid offline_access ${config.signIn.api}/actions`,
        state: 'a-state',
        ...extra,
      }).toString();
      return getPage(url.toString(), ca);
    };
    // The error goes back to the client at its redirect, as OAuth says.
    const refused = await asked({});
    const answer = new URL(refused.location ?? '', 'http://nowhere');
    assert.equal(`${answer.origin}${answer.pathname}`, 'http://localhost:5000/', `${refused.status} ${refused.location}`);
    assert.equal(answer.searchParams.get('error'), 'invalid_request');
    assert.match(answer.searchParams.get('error_description') ?? '', /requires PKCE/);
    // With PKCE the same request goes on to the sign-in page.
    const accepted = await asked({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    assert.match(accepted.location ?? '', /^\/interaction\/[\w-]+$/, `${accepted.status} ${accepted.location}`);
  });

  it('with no browser opener, says in one line to open the page by hand, and the sign-in completes when it is', async () => {
    const empty = mkdtempSync(path.join(dir, 'no-opener-'));
    const env = envWith([empty]);
    const login = t2t(env, ['login', '--browser', '--json'], started);
    const shown = await until(() => (login.stderrSoFar().includes('\n') ? login.stderrSoFar() : undefined));
    const line = /^No browser opener \(xdg-open\) here: open this page in a browser on this machine to sign in, or press Ctrl-C and use `t2t login` for a device code: (https:\/\/\S+)\n$/.exec(shown);
    assert.ok(line, shown);
    const url = new URL(line[1]);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');

    const report = path.join(dir, 'by-hand-report.json');
    assert.equal(await openByHand(line[1], 'global@fabrikam.com', report, started), 0, JSON.stringify(readReport(report)));
    const done = await login.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stderr, shown, 'nothing more on stderr: no stack trace');
    const signedIn = JSON.parse(done.stdout) as Record<string, unknown>;
    assert.equal(signedIn.user, 'global@fabrikam.com');
    assert.equal(signedIn.tenantId, 't-fabrikam');
    assert.deepEqual(signedIn.roles, ['GlobalAdmin']);
    assertNoToken(done, sandbox.config.signIn.tokenCacheFile);
  });
});
