// The embedded stack as a newcomer runs it (`npm start`): three services up, the
// Web UI answering, a clean stop on Ctrl-C, and a second start that finds the
// first start's migration and blob.
import assert from 'node:assert/strict';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { makeTestWorld } from './helpers/world';
import { freePort } from './helpers/ports';
import { DEV_ACCOUNT, DEV_KEY } from './helpers/azurite';

const ROOT = projectRoot();

describe('embedded stack (npm start) @integration', function () {
  this.timeout(240_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-stack-'));
    const [temporalPort, uiPort, blobPort, codecPort, identityPort, gatewayPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    env = {
      PATH: process.env.PATH,
      // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
      T2T_AUTH: process.env.T2T_AUTH,
      T2T_DATA_DIR: path.join(dir, 'data'),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      T2T_UI_PORT: String(uiPort),
      T2T_CODEC_ADDRESS: `127.0.0.1:${codecPort}`,
      T2T_IDENTITY_PORT: String(identityPort),
      T2T_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`,
      T2T_TOKEN_CACHE: path.join(dir, 'home', '.t2t', 'token-cache.json'),
      AZURE_STORAGE_CONNECTION_STRING:
        `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${blobPort}/${DEV_ACCOUNT};`,
    };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function startStack(): Promise<{ child: ChildProcess; output: () => string }> {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'stack.js')], { env, cwd: dir });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the stack did not start:\n${output}`)), 120_000);
      child.once('exit', (code) => reject(new Error(`the stack exited with ${code}:\n${output}`)));
      const check = setInterval(() => {
        if (output.includes('Press Ctrl-C to stop.')) {
          clearInterval(check);
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve({ child, output: () => output });
        }
      }, 100);
    });
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  }

  function t2t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'dist', 'src', 'client', 'cli.js'), ...args], { env, cwd: dir }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  it('starts Temporal with its Web UI, Azurite and the worker; a second start finds the first start\'s migration', async () => {
    const w = makeTestWorld();
    writeFileSync(path.join(dir, 'world.json'), JSON.stringify(w.world));

    const first = await startStack();
    assert.match(first.output(), new RegExp(`Web UI: +http://localhost:${env.T2T_UI_PORT}/`));
    // What a person needs, not the workflow bundle's build report nor the servers' own output (in log files).
    assert.match(first.output(), /Worker: +ready, task queue '/);
    // From a fresh machine: the stack's worker declares a version and makes it current (docs/deployment.md, Versions).
    const version = /Worker: +ready, task queue '[^']+', version (t2t-worker\.\d+\.\d+\.\d+-[0-9a-f]{12})$/m.exec(first.output())?.[1];
    assert.ok(version, first.output());
    assert.ok(first.output().includes(`worker: version ${version} is now current: new migrations start on it`), first.output());
    assert.ok(first.output().includes(`Data:      ${path.join(dir, 'data')} (server logs: temporal.log, azurite.log)`), first.output());
    assert.doesNotMatch(first.output(), /webpack|modules by path|Workflow bundle created|workflow-bundle-/i);
    assert.ok(existsSync(path.join(dir, 'data', 'temporal.log')) && existsSync(path.join(dir, 'data', 'azurite.log')));
    // The sandbox signs evidence packs with a key of its own, made on the first start and said in one line.
    const sandboxKey = path.join(dir, 'data', 'evidence-signing-key.sandbox.pem');
    assert.ok(first.output().includes(`Evidence:  signed with this sandbox's own key (made now) ${sandboxKey}; set T2T_EVIDENCE_SIGNING_KEY_FILE in production`), first.output());
    assert.equal(statSync(sandboxKey).mode & 0o777, 0o600, 'only its owner reads the private key');
    const ui = await fetch(`http://127.0.0.1:${env.T2T_UI_PORT}/`);
    assert.equal(ui.status, 200, 'the Web UI answers');
    // Payloads encrypted from the first start, with a key made in the data folder; the Web UI decodes through the codec server.
    assert.match(first.output(), /Payloads: +payloads encrypted with key 'k\d{8}-[0-9a-f]{6}'; a new key was created in .*payload-keys/);
    assert.ok(first.output().includes(`Codec:     http://${env.T2T_CODEC_ADDRESS}`), first.output());
    const settings = (await (await fetch(`http://127.0.0.1:${env.T2T_UI_PORT}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(settings.Codec?.Endpoint, `http://${env.T2T_CODEC_ADDRESS}`, "the Web UI's codec endpoint is the product's codec server");

    assert.equal((await t2t(['world', 'load', 'world.json'])).code, 0);
    // The sandbox's own identity provider runs with the stack and knows the world's users.
    assert.match(first.output(), new RegExp(`Sign-in: +https://localhost:${env.T2T_IDENTITY_PORT} \\(sandbox provider`));
    const login = await t2t(['--as', w.targetAdmin, 'login', '--json']);
    assert.equal(login.code, 0, login.stderr);
    assert.equal((JSON.parse(login.stdout) as { user: string; tenantId: string }).tenantId, w.target);
    const keys = (await (await fetch(`http://${env.T2T_GATEWAY_ADDRESS}/v1/keys`)).json()) as { keys: { kid: string }[] };
    assert.equal(keys.keys.length, 1, 'the action gateway runs with the stack and publishes its key');
    const unsigned = await fetch(`http://${env.T2T_GATEWAY_ADDRESS}/v1/proofs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unsigned.status, 401);
    const submitted = await t2t(['--as', w.sourceAdmin, 'submit', '--environment', w.environmentId, '--target-tenant', w.target, '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const { migrationId, targetMigrationId } = JSON.parse(submitted.stdout) as { migrationId: string; targetMigrationId: string };
    assert.equal((await t2t(['--as', w.targetAdmin, 'approve', '--migration-id', targetMigrationId])).code, 0);
    const storage = await t2t(['--as', w.sourceAdmin, 'storage', '--environment', w.environmentId, '--json']);
    const sasUrl = (JSON.parse(storage.stdout) as { sasUrl: string }).sasUrl;
    writeFileSync(path.join(dir, 'usermapping.csv'), w.mappingCsv);
    assert.equal((await t2t(['upload', '--sas', sasUrl, '--file', 'usermapping.csv'])).code, 0);

    assert.equal(await stop(first.child), 0, 'Ctrl-C stops the stack cleanly');

    const second = await startStack();
    try {
      assert.match(second.output(), /Payloads: +payloads encrypted with key 'k\d{8}-[0-9a-f]{6}' \(keys from .*payload-keys\)/, 'a second start keeps the key');
      assert.ok(second.output().includes(`worker: version ${version} is current`), 'the same build again: already current');
      const status = await t2t(['status', '--migration-id', migrationId, '--json']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { phase: string }).phase, 'Approved');
      // the blob uploaded before the restart is still there
      const blob = await fetch(sasUrl.replace('?', '/usermapping.csv?'));
      assert.equal(blob.status, 200);
      assert.equal(await blob.text(), w.mappingCsv);
      const prepared = await t2t(['--as', w.sourceAdmin, 'prepare', '--migration-id', migrationId, '--target-tenant', w.target, '--mapping-container', sasUrl, '--json']);
      assert.equal((JSON.parse(prepared.stdout) as { phase: string }).phase, 'Prepared', prepared.stderr);
      // The second start keeps the first start's key; an evidence pack needs no setting, and verifies.
      assert.ok(second.output().includes(`Evidence:  signed with this sandbox's own key ${path.join(dir, 'data', 'evidence-signing-key.sandbox.pem')};`), second.output());
      const evidence = await t2t(['--as', w.sourceAdmin, 'evidence', '--migration-id', migrationId, '--out', 'evidence.tar.gz', '--json']);
      assert.equal(evidence.code, 0, evidence.stderr);
      const signature = (JSON.parse(evidence.stdout) as { signature: { algorithm: string; keyId: string } }).signature;
      assert.equal(signature.algorithm, 'Ed25519');
      const verified = await t2t(['evidence', 'verify', 'evidence.tar.gz']);
      assert.equal(verified.code, 0, verified.stderr);
      assert.match(verified.stdout, new RegExp(`^verified: \\d+ parts, signed by ${signature.keyId}$`, 'm'));
    } finally {
      assert.equal(await stop(second.child), 0);
    }
  });
});
