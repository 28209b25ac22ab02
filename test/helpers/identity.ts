// The sandbox identity provider for one test file: its own data folder, port and
// token cache, the demo world's users.
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { createControlPlane } from '../../src/controlplane/database';
import type { ControlPlane } from '../../src/controlplane/control-plane';
import { readWorldFile } from '../../src/controlplane/world';
import { startSandboxIdentity } from '../../src/identity/sandbox';
import type { LocalProvider } from '../../src/identity/local-provider';
import { signInWithDeviceCode } from '../../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../../src/identity/sandbox-device-sign-in';
import { runCli } from '../../src/client/cli';
import { freePort } from './ports';

const demoWorld = path.join(__dirname, '..', '..', '..', 'examples', 'demo-world.json');

export function getJson<T>(url: string, ca: string): Promise<T> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => resolve(JSON.parse(body) as T));
      })
      .on('error', reject);
  });
}

export async function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { env, out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

export interface Sandbox {
  env: NodeJS.ProcessEnv;
  config: Config;
  controlPlane: ControlPlane;
  provider: LocalProvider;
  ca: string;
}

export async function startSandbox(ttl?: { accessToken?: number; refreshToken?: number; grant?: number }): Promise<Sandbox> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-identity-'));
  const port = await freePort();
  const env = { T2T_DATA_DIR: dir, T2T_IDENTITY_PORT: String(port), T2T_TOKEN_CACHE: path.join(dir, 'home', '.t2t', 'token-cache.json') };
  const config = loadConfig(env);
  const controlPlane = await createControlPlane(config.databaseUrl);
  await controlPlane.migrateSchema();
  await controlPlane.loadWorld(await readWorldFile(demoWorld));
  const provider = await startSandboxIdentity(config, controlPlane, { port, ttl });
  return { env, config, controlPlane, provider, ca: readFileSync(config.signIn.sandboxCertificateFile, 'utf8') };
}

export async function stopSandbox(s: Sandbox | undefined): Promise<void> {
  await s?.provider.close();
  await s?.controlPlane.close();
}


/** A world user's access token for the product API, signed in by device code at the provider's pages (not the CLI's sign-in). */
export async function tokenOf(sandbox: Sandbox, upn: string): Promise<string> {
  // A cache of its own: the CLI's signed-in admin stays as it is.
  const signIn = { ...sandbox.config.signIn, tokenCacheFile: path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-token-')), 'cache.json') };
  const who = await signInWithDeviceCode(signIn, (prompt) =>
    completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn, ca: sandbox.ca }),
  );
  return who.accessToken;
}
