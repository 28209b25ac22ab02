// The evidence pack an auditor is handed: `t2t evidence` run as an admin runs it,
// against the real dev server, Azurite and the control-plane file a worker
// writes; the archive opened with the system's tar; `t2t evidence verify` and
// openssl checking it; one changed byte caught and named.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TestWorkflowEnvironment, MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { workflowBundle } from './helpers/temporal';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, uploadWithSas, Product, rawClientEnv } from './helpers/product';
import { runCli } from '../src/client/cli';
import { STATUS, migrationWorkflowId, statusQuery, type MigrationStatus, type ValidationInfo } from '../src/contracts';
import { createMappingActivities } from '../src/activities/mapping-activities';
import type { MigrationService } from '../src/service/migration-service';
import { AesGcmPayloadCodec } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import type { ActionProof } from '../src/identity/action-proof';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

function exec(command: string, args: string[], options: { cwd?: string; input?: Buffer } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: options.cwd, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr: stderr.toString('utf8') }),
    );
    if (options.input) child.stdin!.end(options.input);
  });
}

/** Unpacks with the system's tar, as an auditor would: the one folder inside, and its files by name. */
async function unpack(file: string): Promise<{ dir: string; read: (name: string) => Buffer; text: (name: string) => string; json: <T = Record<string, unknown>>(name: string) => T; names: string[] }> {
  const into = mkdtempSync(path.join(os.tmpdir(), 't2t-unpacked-'));
  const untar = await exec('tar', ['-xzf', file, '-C', into]);
  assert.equal(untar.code, 0, untar.stderr);
  const folders = readdirSync(into);
  assert.equal(folders.length, 1, 'one folder in the archive');
  const dir = path.join(into, folders[0]);
  const names: string[] = [];
  const walk = (sub: string) => {
    for (const entry of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const name = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(name);
      else names.push(name);
    }
  };
  walk('');
  const read = (name: string) => readFileSync(path.join(dir, name));
  return { dir, read, text: (name) => read(name).toString('utf8'), json: (name) => JSON.parse(read(name).toString('utf8')), names };
}

/** Packs a folder again with the system's tar (after a change), as someone tampering with a pack would. */
async function repack(dir: string, file: string): Promise<void> {
  const packed = await exec('tar', ['-czf', file, '-C', path.dirname(dir), path.basename(dir)]);
  assert.equal(packed.code, 0, packed.stderr);
}

function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

describe('evidence pack @integration', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let dir: string;
  const hmacKey = randomBytes(32).toString('hex');

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-evidence-test-'));
  });
  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `t2t` in this process, with the settings an admin's shell would have. */
  async function t2t(p: Product, args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      out: (s) => (stdout += s),
      err: (s) => (stderr += s),
      env: rawClientEnv(p, env.address, { T2T_EVIDENCE_HMAC_KEY: hmacKey, ...extraEnv }),
    });
    return { code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> };
  }

  const handleOf = (w: TestWorld): WorkflowHandle => env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));

  async function approvedWithStorage(p: Product, w: TestWorld): Promise<{ status: MigrationStatus; sasUrl: string }> {
    const status = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    await p.client.actOn(handleOf(w), 'approve', { actor: w.targetAdmin });
    const storage = await p.client.actOn(handleOf(w), 'requestStorage', { actor: w.sourceAdmin });
    return { status, sasUrl: storage.status.storage!.sasUrl };
  }

  describe('a migration run to Succeeded: two prepares, refused actions, a lockbox, a continue-as-new', () => {
    let w: TestWorld;
    let p: Product;
    let migrationId: string;
    let sasUrl: string;
    let final: MigrationStatus;
    const badMapping = (world: TestWorld) => `${world.mappingCsv}not-an-email,${world.targetUpn(0)}\n`;

    before(async () => {
      w = makeTestWorld({ users: 4, unmappedUsers: 1, lockbox: true });
      // A short history limit, so that the refusals below make the migration continue as new.
      p = await startProduct({ env, azurite, world: w.world, durations: { continueAfterEvents: 50 } });
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      migrationId = submitted.migrationId;
      const handle = handleOf(w);
      const firstRun = (await handle.describe()).runId;
      // An admin of another tenant tries to approve, again and again: refused, recorded, counted.
      for (let i = 0; i < 20 && (await handle.describe()).runId === firstRun; i += 1) {
        const refused = await p.client.actOn(handle, 'approve', { actor: w.otherAdmin });
        assert.equal(refused.entry.outcome, 'refused');
      }
      assert.notEqual((await handle.describe()).runId, firstRun, 'the migration continued as new');
      assert.equal((await p.client.actOn(handle, 'approve', { actor: w.targetAdmin })).entry.outcome, 'accepted');
      // The source admin is no lockbox approver.
      assert.equal((await p.client.actOn(handle, 'approveLockbox', { actor: w.sourceAdmin })).entry.outcome, 'refused');
      assert.equal((await p.client.actOn(handle, 'approveLockbox', { actor: w.lockboxApprover })).entry.outcome, 'accepted');
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
      sasUrl = storage.status.storage!.sasUrl;
      await uploadWithSas(sasUrl, badMapping(w));
      const failed = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(failed.status.phase, 'ValidationFailed');
      await uploadWithSas(sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
    });
    after(async () => {
      await p?.stop();
    });

    it('the source admin gets a pack whose parts say who did what and when, every refusal, both prepares with the SHA-256 of the uploaded bytes, the status strings in order, the checklist and the re-mapped users', async () => {
      const file = path.join(dir, 'succeeded.tar.gz');
      const made = await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', migrationId, '--out', file, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const summary = made.json();
      assert.equal(summary.phase, 'Succeeded');
      assert.equal(summary.running, false);
      assert.equal(summary.prepares, 2);
      assert.equal(summary.usersListed, true);
      assert.equal(summary.usersRemapped, 4);
      assert.equal(summary.sha256, sha256(readFileSync(file)));
      assert.equal((statSync(file).mode & 0o777).toString(8), '600', 'readable by its owner only: it names people');

      const pack = await unpack(file);
      const migration = pack.json<{ actors: Record<string, { actor: string; at: string }[]>; running: boolean; state: string; phase: string }>('migration.json');
      assert.equal(migration.running, false);
      assert.match(migration.state, /^ended at \d{4}-\d\d-\d\dT.*Z, phase Succeeded$/);
      const who = (action: string) => (migration.actors[action] ?? []).map((a) => a.actor);
      assert.deepEqual(who('submit'), [w.sourceAdmin]);
      assert.deepEqual(who('approve'), [w.targetAdmin]);
      assert.deepEqual(who('approveLockbox'), [w.lockboxApprover]);
      assert.deepEqual(who('requestStorage'), [w.sourceAdmin]);
      assert.deepEqual(who('prepare'), [w.sourceAdmin, w.sourceAdmin]);
      assert.deepEqual(who('migrate'), [w.sourceAdmin]);
      // The times are the audit trail's, in the order things happened.
      const times = ['submit', 'approve', 'approveLockbox', 'requestStorage', 'prepare', 'migrate'].flatMap((a) => migration.actors[a].map((x) => x.at));
      assert.deepEqual([...times].sort(), times, 'submitted, approved, lockbox, storage, prepared, migrated: in that order');
      const stored = await p.auditLog.list(migrationId);
      assert.equal(migration.actors.approve[0].at, stored.find((e) => e.action === 'approve' && e.outcome === 'accepted')!.at);

      const refused = parseCsv(pack.text('audit/refused.csv'));
      const approveRefusals = refused.filter((r) => r.action === 'approve' && r.actor === w.otherAdmin);
      assert.ok(approveRefusals.length >= 1);
      assert.match(approveRefusals[0].reason, /^approve refused: the caller is not a user of the target tenant/);
      const lockboxRefusal = refused.find((r) => r.action === 'approveLockbox');
      assert.equal(lockboxRefusal?.actor, w.sourceAdmin);
      const storedRefusals = stored.filter((e) => e.outcome === 'refused');
      assert.equal(refused.reduce((n, r) => n + Number(r.count), 0), storedRefusals.reduce((n, e) => n + e.count, 0), 'every refusal, counted');
      assert.equal(summary.refusedActions, storedRefusals.reduce((n, e) => n + e.count, 0));

      const prepares = pack.json<{ kind: string; round: number; preparedBy: string; outcome: string; mappingSha256: string; rows: number; errors: number; errorReport: string | null }[]>('prepares.json');
      const rounds = prepares.filter((r) => r.kind === 'prepare');
      assert.deepEqual(rounds.map((r) => [r.round, r.outcome, r.preparedBy]), [[1, 'failed', w.sourceAdmin], [2, 'passed', w.sourceAdmin]]);
      assert.equal(rounds[0].mappingSha256, sha256(badMapping(w)), 'round 1: the SHA-256 of the bytes uploaded then');
      assert.equal(rounds[1].mappingSha256, sha256(w.mappingCsv), 'round 2: the SHA-256 of the bytes uploaded then');
      const check = prepares.find((r) => r.kind === 'check before migrate');
      assert.equal(check?.mappingSha256, sha256(w.mappingCsv), 'the check before migrate read the same file');
      assert.equal(rounds[0].errorReport, 'validation/round-1-errors.csv');
      const report = pack.read('validation/round-1-errors.csv');
      assert.match(report.toString('utf8'), /Invalid Email Format 'not-an-email'/);
      const blob = await p.storage.container(final.storage!.containerName).getBlobClient('validation/round-1-errors.csv').downloadToBuffer();
      assert.ok(report.equals(blob), 'the error report as the product wrote it');
      assert.equal(rounds[1].errorReport, null);

      const statuses = parseCsv(pack.text('status.csv')).map((r) => r.status).filter(Boolean);
      assert.deepEqual(statuses.map((s) => s.replace(/here: .*/, 'here: <url>')), [
        STATUS.validateRunning,
        STATUS.validationFailed('<url>'),
        STATUS.validateRunning,
        STATUS.validateSucceeded,
        STATUS.migrateRunning,
        STATUS.migrateSucceeded,
      ]);
      assert.match(statuses[1], /round-1-errors\.csv\?.*sig=REDACTED/, 'the report link is there, without its signature');
      const phases = parseCsv(pack.text('status.csv')).map((r) => r.phase);
      assert.deepEqual(phases, ['Submitted', 'PendingApproval', 'PendingLockbox', 'Approved', 'Validating', 'ValidationFailed', 'Validating', 'Prepared', 'Migrating', 'Succeeded']);

      assert.deepEqual(pack.json<{ checklist: unknown }>('checklist.json').checklist, final.summary!.checklist);
      assert.match(pack.text('checklist.txt'), /Turn flows on in this order: /);

      const users = pack.json<{ usersRemapped: number; unmappedUsers: number; listed: boolean }>('users/summary.json');
      assert.equal(users.usersRemapped, 4);
      assert.equal(users.unmappedUsers, final.summary!.unmappedUsers);
      assert.equal(users.listed, true);
      const remapped = parseCsv(pack.text('users/remapped.csv'));
      assert.deepEqual(
        remapped.map((r) => `${r.source}>${r.target}`).sort(),
        [0, 1, 2, 3].map((i) => `${w.sourceUpn(i)}>${w.targetUpn(i)}`).sort(),
      );

      // Nothing in the pack opens the container: every SAS signature is replaced.
      const realSignature = new URL(sasUrl).searchParams.get('sig')!;
      let payloadsWithSas = 0;
      for (const name of pack.names) {
        // The history's payloads are base64 in its JSON: read them decoded too.
        const payloads = [...pack.text(name).matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString('utf8'));
        for (const text of [pack.text(name), ...payloads]) {
          assert.ok(!text.includes(realSignature) && !text.includes(encodeURIComponent(realSignature)), `${name} holds no SAS signature`);
        }
        payloadsWithSas += payloads.filter((t) => t.includes('sig=REDACTED')).length;
      }
      assert.ok(payloadsWithSas > 0, 'the history payloads that carried a SAS URL carry it without its signature');

      const readme = pack.text('README.txt');
      assert.match(readme, /The migration had ended: ended at .*, phase Succeeded/);
      assert.match(readme, new RegExp(`${w.lockboxApprover.replace('.', '\\.')} approved the lockbox request`));
    });

    it("the history parts are every run of the workflow, exported as JSON, and each replays with the workflow's code", async () => {
      const file = path.join(dir, 'history.tar.gz');
      assert.equal((await t2t(p, ['evidence', '--migration-id', final.targetMigrationId, '--out', file])).code, 0, 'the target migration id finds it too');
      const pack = await unpack(file);
      const runs = pack.json<{ runs: { runId: string; closedAs: string; events: number; part: string }[] }>('history/runs.json').runs;
      // Temporal's own list of the runs, independently of the pack.
      const listed: string[] = [];
      for (let attempt = 0; attempt < 40; attempt += 1) {
        listed.length = 0;
        for await (const run of env.client.workflow.list({ query: `WorkflowId = '${migrationWorkflowId(w.environmentId)}' AND T2TSourceMigrationId = '${migrationId}'` })) listed.push(run.runId);
        if (listed.length === runs.length) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(runs.length >= 2, 'the migration continued as new at least once');
      assert.deepEqual([...listed].sort(), runs.map((r) => r.runId).sort(), 'every run, and only its runs');
      assert.deepEqual(runs.map((r) => r.closedAs), [...runs.slice(1).map(() => 'ContinuedAsNew'), 'Completed']);
      const historyParts = pack.names.filter((n) => n.startsWith('history/run-'));
      assert.equal(historyParts.length, runs.length);
      for (const run of runs) {
        const history = historyFromJSON(pack.json(run.part));
        assert.equal(history.events?.length, run.events);
        await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, run.runId);
      }
      // Without an acting admin, counts only: no list of people, no rows of an error report.
      const users = pack.json<{ usersRemapped: number; listed: boolean; why: string }>('users/summary.json');
      assert.equal(users.usersRemapped, 4);
      assert.equal(users.listed, false);
      assert.match(users.why, /no acting admin/);
      assert.ok(!pack.names.includes('users/remapped.csv'));
      assert.ok(!pack.names.includes('validation/round-1-errors.csv'));
      const round1 = pack.json<{ errorReportSha256: string; kind: string }[]>('prepares.json')[0];
      const blob = await p.storage.container(final.storage!.containerName).getBlobClient('validation/round-1-errors.csv').downloadToBuffer();
      assert.equal(round1.errorReportSha256, sha256(blob), "the report's SHA-256 is still there");
    });

    it('a user with no admin role gets counts, not the list; an admin of the target tenant gets the list', async () => {
      const plain = path.join(dir, 'plain.tar.gz');
      const byUser = await t2t(p, ['--as', w.sourceUser, 'evidence', '--migration-id', migrationId, '--out', plain, '--json']);
      assert.equal(byUser.code, 0, byUser.stderr);
      assert.equal(byUser.json().usersListed, false);
      const users = (await unpack(plain)).json<{ why: string }>('users/summary.json');
      assert.match(users.why, /is not an enabled admin of the source tenant .* or the target tenant/);
      const target = path.join(dir, 'target.tar.gz');
      const byTarget = await t2t(p, ['--as', w.targetAdmin, 'evidence', '--migration-id', final.targetMigrationId, '--out', target, '--json']);
      assert.equal(byTarget.json().usersListed, true);
      assert.ok((await unpack(target)).names.includes('users/remapped.csv'));
    });

    it('verify: whole → exit 0 and "verified: N parts, signed by <key id>"; one changed byte of one part → exit 1 naming that part; a changed manifest → the signature does not match', async () => {
      const file = path.join(dir, 'to-verify.tar.gz');
      assert.equal((await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', migrationId, '--out', file])).code, 0);
      const pack = await unpack(file);
      const manifest = pack.json<{ parts: { name: string; sha256: string; size: number }[]; signature: { keyId: string; algorithm: string } }>('manifest.json');
      const whole = await t2t(p, ['evidence', 'verify', file]);
      assert.equal(whole.code, 0, whole.stderr);
      assert.equal(whole.stdout.split('\n')[0], `verified: ${manifest.parts.length} parts, signed by ${manifest.signature.keyId}`);
      assert.match(manifest.signature.keyId, /^hmac-sha256:[0-9a-f]{16}$/);
      // The manifest lists every file but itself and its signature, with the right SHA-256 and size.
      assert.deepEqual(manifest.parts.map((x) => x.name).sort(), pack.names.filter((n) => n !== 'manifest.json' && n !== 'manifest.sig').sort());
      for (const part of manifest.parts) {
        assert.equal(sha256(pack.read(part.name)), part.sha256, part.name);
        assert.equal(pack.read(part.name).length, part.size, part.name);
      }

      // One byte of one part changed, the archive packed again.
      const changed = path.join(pack.dir, 'prepares.csv');
      const bytes = readFileSync(changed);
      const at = bytes.indexOf(sha256(w.mappingCsv)) + 5;
      bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
      writeFileSync(changed, bytes);
      const tampered = path.join(dir, 'tampered-part.tar.gz');
      await repack(pack.dir, tampered);
      const partChanged = await t2t(p, ['evidence', 'verify', tampered]);
      assert.equal(partChanged.code, 1);
      assert.equal(partChanged.stdout, '');
      assert.equal(partChanged.stderr, "t2t: not verified: part 'prepares.csv' was changed (its SHA-256 is not the one in the signed manifest)\n");

      // Two parts changed: the first in the manifest's order is named.
      const second = await unpack(file);
      for (const name of ['users/remapped.csv', 'audit/trail.csv']) {
        const b = readFileSync(path.join(second.dir, name));
        b[b.length - 3] ^= 0x01;
        writeFileSync(path.join(second.dir, name), b);
      }
      const tamperedTwo = path.join(dir, 'tampered-two.tar.gz');
      await repack(second.dir, tamperedTwo);
      const first = manifest.parts.map((x) => x.name).find((n) => n === 'users/remapped.csv' || n === 'audit/trail.csv');
      assert.match((await t2t(p, ['evidence', 'verify', tamperedTwo])).stderr, new RegExp(`^t2t: not verified: part '${first}' was changed`));

      // The manifest changed (a hash made to fit the changed part): its signature no longer matches.
      const third = await unpack(file);
      const manifestText = third.text('manifest.json');
      const forged = manifestText.replace(manifest.parts.find((x) => x.name === 'prepares.csv')!.sha256, sha256(bytes));
      assert.notEqual(forged, manifestText);
      writeFileSync(path.join(third.dir, 'prepares.csv'), bytes);
      writeFileSync(path.join(third.dir, 'manifest.json'), forged);
      const tamperedManifest = path.join(dir, 'tampered-manifest.tar.gz');
      await repack(third.dir, tamperedManifest);
      const manifestChanged = await t2t(p, ['evidence', 'verify', tamperedManifest]);
      assert.equal(manifestChanged.code, 1);
      assert.equal(manifestChanged.stderr, 't2t: not verified: manifest signature does not match\n');

      // A part added after signing, and a key that is not the signer's.
      const fourth = await unpack(file);
      writeFileSync(path.join(fourth.dir, 'extra.txt'), 'added later\n');
      const added = path.join(dir, 'tampered-added.tar.gz');
      await repack(fourth.dir, added);
      assert.equal((await t2t(p, ['evidence', 'verify', added])).stderr, "t2t: not verified: 'extra.txt' is in the archive but not in the signed manifest\n");
      const otherKey = await t2t(p, ['evidence', 'verify', file], { T2T_EVIDENCE_HMAC_KEY: randomBytes(32).toString('hex') });
      assert.equal(otherKey.code, 1);
      assert.equal(otherKey.stderr, 't2t: not verified: manifest signature does not match\n');
      const notAPack = path.join(dir, 'not-a-pack.tar.gz');
      writeFileSync(notAPack, 'hello');
      const unreadable = await t2t(p, ['evidence', 'verify', notAPack]);
      assert.equal(unreadable.code, 1);
      assert.match(unreadable.stderr, /^t2t: not a readable evidence pack \(tar\.gz\): .*\n$/);
    });

    /** An Ed25519 key pair in PEM files and a pack signed with it, made once for the tests that need one. */
    let ed25519: Promise<{ privateFile: string; publicFile: string; file: string; keyId: string }> | undefined;
    const ed25519Pack = () =>
      (ed25519 ??= (async () => {
        const keys = generateKeyPairSync('ed25519');
        const privateFile = path.join(dir, 'evidence-signing.pem');
        const publicFile = path.join(dir, 'evidence-public.pem');
        writeFileSync(privateFile, keys.privateKey.export({ format: 'pem', type: 'pkcs8' }));
        writeFileSync(publicFile, keys.publicKey.export({ format: 'pem', type: 'spki' }));
        const file = path.join(dir, 'ed25519.tar.gz');
        const made = await t2t(p, ['evidence', '--migration-id', migrationId, '--out', file, '--json'], { T2T_EVIDENCE_HMAC_KEY: '', T2T_EVIDENCE_SIGNING_KEY_FILE: privateFile });
        assert.equal(made.code, 0, made.stderr);
        const signature = made.json().signature as { algorithm: string; keyId: string };
        assert.equal(signature.algorithm, 'Ed25519');
        // The fingerprint of the raw public key (the last 32 bytes of its DER form), as docs/auditors.md computes it.
        assert.equal(signature.keyId, `ed25519:${sha256(keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)).slice(0, 16)}`);
        return { privateFile, publicFile, file, keyId: signature.keyId };
      })());

    it('Ed25519: signed with the private key file, verified with the public key alone', async () => {
      const { file, publicFile, keyId } = await ed25519Pack();
      const verified = await t2t(p, ['evidence', 'verify', file], { T2T_EVIDENCE_HMAC_KEY: '', T2T_EVIDENCE_PUBLIC_KEY_FILE: publicFile });
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.stdout.split('\n')[0], `verified: ${(await unpack(file)).json<{ parts: unknown[] }>('manifest.json').parts.length} parts, signed by ${keyId}`);
      // An HMAC key cannot verify an Ed25519 pack, and says why.
      const wrongKind = await t2t(p, ['evidence', 'verify', file]);
      assert.equal(wrongKind.stderr, 't2t: not verified: manifest signature does not match (the pack says it is signed with Ed25519; the key configured here is HMAC-SHA256)\n');
      // Another Ed25519 key does not verify it.
      const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' });
      const otherFile = path.join(dir, 'other-public.pem');
      writeFileSync(otherFile, other);
      const byOther = await t2t(p, ['evidence', 'verify', file], { T2T_EVIDENCE_HMAC_KEY: '', T2T_EVIDENCE_PUBLIC_KEY_FILE: otherFile });
      assert.equal(byOther.stderr, 't2t: not verified: manifest signature does not match\n');
    });

    it('verifies without the product: sha256sum checks every part against SHA256SUMS, which the signed manifest names', async () => {
      const file = path.join(dir, 'sha256sum.tar.gz');
      assert.equal((await t2t(p, ['evidence', '--migration-id', migrationId, '--out', file])).code, 0);
      const pack = await unpack(file);
      const sums = await exec('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: pack.dir });
      assert.equal(sums.code, 0, sums.stderr);
      const manifest = pack.json<{ parts: { name: string; sha256: string }[] }>('manifest.json');
      assert.equal(manifest.parts.find((x) => x.name === 'SHA256SUMS')!.sha256, sha256(pack.read('SHA256SUMS')));
      assert.equal(pack.text('SHA256SUMS').trim().split('\n').length, manifest.parts.length - 1, 'every part but SHA256SUMS itself');
    });

    it('verifies without the product: openssl checks the HMAC and the Ed25519 signature of manifest.json, as docs/auditors.md says', async function () {
      // openssl is not one of the tools the test run installs: where it is missing, this is reported as pending.
      if ((await exec('openssl', ['version'])).code !== 0) this.skip();
      const file = path.join(dir, 'openssl-hmac.tar.gz');
      assert.equal((await t2t(p, ['evidence', '--migration-id', migrationId, '--out', file])).code, 0);
      const pack = await unpack(file);
      const mac = await exec('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `key:${hmacKey}`, '-binary', 'manifest.json'], { cwd: pack.dir });
      assert.equal(mac.code, 0, mac.stderr);
      assert.ok(mac.stdout.equals(pack.read('manifest.sig')), 'openssl computes the same signature');

      const { file: signed, publicFile, keyId } = await ed25519Pack();
      const der = await exec('openssl', ['pkey', '-pubin', '-in', publicFile, '-outform', 'DER']);
      assert.equal(keyId, `ed25519:${sha256(der.stdout.subarray(-32)).slice(0, 16)}`, 'the key id, from the public key with openssl');
      const ed = await unpack(signed);
      const byOpenssl = await exec('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', publicFile, '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: ed.dir });
      assert.equal(byOpenssl.code, 0, byOpenssl.stderr);
      assert.match(byOpenssl.stdout.toString('utf8'), /Signature Verified Successfully/);
      writeFileSync(path.join(ed.dir, 'manifest.json'), ed.text('manifest.json').replace('"running": false', '"running": true'));
      const changed = await exec('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', publicFile, '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: ed.dir });
      assert.notEqual(changed.code, 0, 'openssl refuses a changed manifest');
    });
  });

  it("a running migration's pack is marked running, with the time and the phase, in the README, the manifest and verify's answer", async () => {
    const w = makeTestWorld({ users: 2 });
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const { status } = await approvedWithStorage(p, w);
      const file = path.join(dir, 'running.tar.gz');
      const made = await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', status.migrationId, '--out', file, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const summary = made.json();
      assert.equal(summary.running, true);
      assert.match(String(summary.state), /^running at \d{4}-\d\d-\d\dT[\d:.]+Z, phase Approved$/);
      const pack = await unpack(file);
      assert.match(pack.text('README.txt'), /THE MIGRATION WAS STILL RUNNING: running at .*, phase Approved/);
      const manifest = pack.json<{ running: boolean; state: string }>('manifest.json');
      assert.equal(manifest.running, true);
      assert.equal(manifest.state, summary.state);
      assert.equal(pack.json<{ running: boolean }>('migration.json').running, true);
      assert.deepEqual(pack.json<{ runs: { closedAs: string }[] }>('history/runs.json').runs.map((r) => r.closedAs), ['Running']);
      assert.equal(pack.json<{ checklist: unknown }>('checklist.json').checklist, null);
      const users = pack.json<{ usersRemapped: number | null; listed: boolean }>('users/summary.json');
      assert.equal(users.usersRemapped, null);
      const verified = await t2t(p, ['evidence', 'verify', file]);
      assert.equal(verified.code, 0, verified.stderr);
      assert.match(verified.stdout, new RegExp(`migration ${status.migrationId}: running at .*, phase Approved`));
      assert.equal((await handleOf(w).query(statusQuery)).phase, 'Approved', 'making a pack changes nothing');
    } finally {
      await p.stop();
    }
  });

  it("the trail proves who acted: each signed action's proof is in the pack and verify checks the gateway's signature, naming the entry that fails", async () => {
    const w = makeTestWorld({ users: 1 });
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const { status } = await approvedWithStorage(p, w);
      const signer = new ActionSigner([newGatewayKey('gw-evidence-1')]);
      const keysFile = path.join(dir, 'gateway-keys.json');
      writeFileSync(keysFile, JSON.stringify({ keys: signer.published() }));
      const claims = (user: string, tenantId: string) => ({ issuer: 'https://localhost:8235', tenantId, objectId: `oid-${user}`, user, tokenIdHash: sha256(user) });
      // Entries as the workflow records signed actions: the proof the action carried, whole.
      const signed = (at: string, action: 'prepare' | 'cancel', actor: string, outcome: 'accepted' | 'refused', tamper?: (proof: ActionProof) => ActionProof) => {
        const payload = { actor, requestId: randomBytes(4).toString('hex'), ...(action === 'prepare' ? { targetTenantId: w.target } : { reason: 'no' }) };
        const proof = signer.sign({ action, migrationId: status.migrationId, payload, claims: claims(actor, 't-contoso'), now: new Date(at) });
        return { entryId: `test-${at}`, migrationId: status.migrationId, at, action, actor, outcome, requestId: payload.requestId, proof: tamper ? tamper(proof) : proof, count: 1, ...(outcome === 'refused' ? { reason: 'not now' } : {}) };
      };
      const later = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
      await p.auditLog.append([
        signed(later(1), 'prepare', w.sourceAdmin, 'accepted'),
        // Refused because its proof did not verify: it stays in the trail, counted, not a failure of the pack.
        signed(later(2), 'cancel', w.sourceAdmin, 'refused', (proof) => ({ ...proof, claims: { ...proof.claims, user: 'mallory@contoso.com' } })),
      ]);

      const good = path.join(dir, 'signed.tar.gz');
      const made = await t2t(p, ['evidence', '--migration-id', status.migrationId, '--out', good], { T2T_GATEWAY_PUBLIC_KEYS_FILE: keysFile });
      assert.equal(made.code, 0, made.stderr);
      const pack = await unpack(good);
      const trail = pack.json<{ action: string; actor: string; at: string; proof?: ActionProof }[]>('audit/trail.json');
      assert.equal(trail.filter((e) => e.proof).length, 2);
      assert.deepEqual(trail.find((e) => e.action === 'prepare')!.proof!.claims.user, w.sourceAdmin);
      assert.deepEqual(pack.json<{ keys: unknown }>('audit/gateway-keys.json').keys, signer.published());
      assert.match(pack.text('README.txt'), /Signed actions: 2 of \d+ entries carry the gateway's proof/);
      const unsigned = trail.length - 2;
      const verified = await t2t(p, ['evidence', 'verify', good]);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.stdout.split('\n')[1], `actions: 1 signed by the gateway (checked against audit/gateway-keys.json (the keys the pack was made with)), ${unsigned} unsigned, 1 refused carrying a proof that does not verify`);
      // The auditor's own copy of the gateway's keys.
      const own = await t2t(p, ['evidence', 'verify', good, '--gateway-keys', keysFile]);
      assert.equal(own.stdout.split('\n')[1], `actions: 1 signed by the gateway (checked against ${keysFile}), ${unsigned} unsigned, 1 refused carrying a proof that does not verify`);

      // A key the gateway never published: the first signed entry is named.
      const otherKeys = path.join(dir, 'other-gateway-keys.json');
      writeFileSync(otherKeys, JSON.stringify({ keys: new ActionSigner([newGatewayKey('gw-other')]).published() }));
      const unknownKid = await t2t(p, ['evidence', 'verify', good, '--gateway-keys', otherKeys]);
      assert.equal(unknownKid.code, 1);
      const prepareAt = trail.findIndex((e) => e.action === 'prepare');
      const prepare = trail[prepareAt];
      assert.equal(unknownKid.stderr, `t2t: not verified: entry ${prepareAt + 1} (prepare by ${prepare.actor} at ${prepare.at}): signed with gateway key gw-evidence-1, which is not among the gateway's keys (gw-other)\n`);

      // An accepted action whose recorded claim was changed after the gateway signed it.
      await p.auditLog.append([signed(later(3), 'prepare', w.sourceAdmin, 'accepted', (proof) => ({ ...proof, claims: { ...proof.claims, user: 'mallory@contoso.com' } }))]);
      const tamperedFile = path.join(dir, 'signed-tampered.tar.gz');
      assert.equal((await t2t(p, ['evidence', '--migration-id', status.migrationId, '--out', tamperedFile], { T2T_GATEWAY_PUBLIC_KEYS_FILE: keysFile })).code, 0);
      const tamperedTrail = (await unpack(tamperedFile)).json<{ action: string; actor: string; at: string }[]>('audit/trail.json');
      const last = tamperedTrail.length;
      const tampered = await t2t(p, ['evidence', 'verify', tamperedFile]);
      assert.equal(tampered.code, 1);
      assert.equal(tampered.stderr, `t2t: not verified: entry ${last} (prepare by ${w.sourceAdmin} at ${tamperedTrail[last - 1].at}): the gateway's signature does not verify\n`);
    } finally {
      await p.stop();
    }
  });

  it('a migration whose payloads are encrypted: the pack holds its history decoded and names the key; t2t without the key stops with one line', async () => {
    const keys = `${'k-evidence'}:${randomBytes(32).toString('base64')}`;
    const ring = parseKeyRing(keys, 'test keys');
    const w = makeTestWorld({ users: 2 });
    const p = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [new AesGcmPayloadCodec(ring)] } });
    try {
      const status = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(status.targetMigrationId, 'approve', { actor: w.targetAdmin });
      await p.client.act(status.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      const file = path.join(dir, 'encrypted.tar.gz');
      const made = await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', status.migrationId, '--out', file, '--json'], { T2T_PAYLOAD_KEYS: keys });
      assert.equal(made.code, 0, made.stderr);
      const pack = await unpack(file);
      const runs = pack.json<{ payloadsDecodedWithKeyIds: string[]; runs: { payloadKeyIds: string[]; part: string }[] }>('history/runs.json');
      assert.deepEqual(runs.payloadsDecodedWithKeyIds, ['k-evidence']);
      assert.deepEqual(runs.runs[0].payloadKeyIds, ['k-evidence']);
      assert.match(pack.text('README.txt'), /Payloads were encrypted in Temporal with key\(s\) k-evidence; they are included decoded\./);
      const history = pack.json<{ events: { workflowExecutionStartedEventAttributes?: { input?: { payloads: { metadata: Record<string, string>; data: string }[] } } }[] }>(runs.runs[0].part);
      const input = history.events[0].workflowExecutionStartedEventAttributes!.input!.payloads[0];
      assert.equal(Buffer.from(input.metadata.encoding, 'base64').toString(), 'json/plain', 'the input is included decoded');
      assert.equal(JSON.parse(Buffer.from(input.data, 'base64').toString()).submittedBy, w.sourceAdmin);
      const keyless = await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', status.migrationId, '--out', path.join(dir, 'keyless.tar.gz')]);
      assert.equal(keyless.code, 1);
      assert.match(keyless.stderr, /^t2t: .*encrypted \(key 'k-evidence'\) and no payload keys are configured here: set T2T_PAYLOAD_KEYS_FILE or T2T_PAYLOAD_KEYS/);
      assert.equal(keyless.stderr.trim().split('\n').length, 1);
      assert.ok(!existsSync(path.join(dir, 'keyless.tar.gz')));
    } finally {
      await p.stop();
    }
  });

  it('an unknown migration id, an --out in a folder that does not exist, no signing key: one line each, and no file written', async () => {
    const w = makeTestWorld({ users: 1 });
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const before = readdirSync(dir).length;
      const unknown = await t2t(p, ['--as', w.sourceAdmin, 'evidence', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc', '--out', path.join(dir, 'unknown.tar.gz')]);
      assert.equal(unknown.code, 1);
      assert.equal(unknown.stderr, "t2t: no migration has the id '0b8e2f4c-7d1a-4c8e-9f00-123456789abc'\n");
      const malformed = await t2t(p, ['evidence', '--migration-id', 'nope', '--out', path.join(dir, 'nope.tar.gz'), '--json']);
      assert.equal(malformed.code, 1);
      assert.deepEqual(malformed.json(), { error: "no migration has the id 'nope'" });
      const missingFolder = path.join(dir, 'no-such-folder', 'pack.tar.gz');
      const noFolder = await t2t(p, ['evidence', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc', '--out', missingFolder]);
      assert.equal(noFolder.code, 1);
      assert.equal(noFolder.stderr, `t2t: --out: the folder ${path.dirname(missingFolder)} does not exist\n`);
      const noKey = await t2t(p, ['evidence', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc', '--out', path.join(dir, 'nokey.tar.gz')], { T2T_EVIDENCE_HMAC_KEY: '' });
      assert.equal(noKey.code, 1);
      assert.match(noKey.stderr, /^t2t: evidence packs are signed: set T2T_EVIDENCE_HMAC_KEY .* or T2T_EVIDENCE_SIGNING_KEY_FILE .*\n$/);
      const shortKey = await t2t(p, ['evidence', 'verify', 'x.tar.gz'], { T2T_EVIDENCE_HMAC_KEY: 'too-short' });
      assert.equal(shortKey.stderr, 't2t: configuration: T2T_EVIDENCE_HMAC_KEY: must be at least 32 characters (a random secret, e.g. openssl rand -hex 32)\n');
      const badKeyFile = await t2t(p, ['evidence', 'verify', 'x.tar.gz'], { T2T_EVIDENCE_HMAC_KEY: '', T2T_EVIDENCE_PUBLIC_KEY_FILE: path.join(dir, 'missing.pem') });
      assert.equal(badKeyFile.stderr, `t2t: configuration: T2T_EVIDENCE_PUBLIC_KEY_FILE: cannot read ${path.join(dir, 'missing.pem')}: no such file\n`);
      assert.equal(readdirSync(dir).length, before, 'no file written');
      assert.ok(!existsSync(path.join(dir, 'no-such-folder')));
      // An existing file is never overwritten.
      const existing = path.join(dir, 'existing.tar.gz');
      writeFileSync(existing, 'mine');
      const overwrite = await t2t(p, ['evidence', '--migration-id', 'nope', '--out', existing]);
      assert.match(overwrite.stderr, /^t2t: --out: .* already exists; an evidence pack is never overwritten/);
      assert.equal(readFileSync(existing, 'utf8'), 'mine');
    } finally {
      await p.stop();
    }
  });
});

describe("the mapping file's SHA-256 comes from the download the validation reads", () => {
  const files = {
    valid: Buffer.from('Source,Destination\na@contoso.com,b@fabrikam.com\n'),
    // A PNG's first bytes: refused as a whole after the first block, the rest never needed for validation.
    image: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(300_000)]),
    duplicates: Buffer.from(`Source,Destination\n${Array.from({ length: 3000 }, (_, i) => `a${i % 2000}@contoso.com,b${i}@fabrikam.com`).join('\n')}\n`),
  };

  async function validate(data: Buffer, name = 'usermapping.csv') {
    let downloads = 0;
    const container = {
      openVersion: async (blobName: string) => {
        if (blobName !== name) return undefined;
        downloads += 1;
        // Small chunks, as a download arrives.
        return { body: Readable.from((function* () { for (let i = 0; i < data.length; i += 1000) yield data.subarray(i, i + 1000); })()), etag: '"v1"' };
      },
      blobNames: async () => [name],
      writeStream: async (_blob: string, body: Readable) => {
        for await (const chunk of body) void chunk;
      },
      blobReadUrl: (blob: string) => `http://127.0.0.1/${blob}`,
    };
    const service = { mappingContainer: () => container, directory: { findTenantUsers: async () => new Map() } } as unknown as MigrationService;
    const activities = createMappingActivities(service);
    const result: ValidationInfo = await new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(activities.validateMapping, {
      migrationId: 'm', storage: { containerName: 'c', sasUrl: 'http://127.0.0.1/c', expiresOn: '2026-12-31T00:00:00.000Z' }, sourceTenantId: 's', targetTenantId: 't', round: 1,
    });
    return { result, downloads };
  }

  it('a valid file: the SHA-256 of its bytes', async () => {
    const { result } = await validate(files.valid);
    assert.equal(result.mappingSha256, sha256(files.valid));
  });

  it('a file refused after its first block (an image): still the SHA-256 of every byte, from the same download', async () => {
    const { result, downloads } = await validate(files.image);
    assert.equal(result.rows, 0);
    assert.equal(result.errors, 1);
    assert.equal(result.mappingSha256, sha256(files.image));
    assert.equal(downloads, 1);
  });

  it('a file with duplicates (two passes): the SHA-256 from the first pass, equal to the bytes', async () => {
    const { result, downloads } = await validate(files.duplicates);
    assert.equal(downloads, 2, 'the second pass spells the duplicates out');
    assert.equal(result.mappingSha256, sha256(files.duplicates));
  });

  it('a file named in the wrong letter case: refused, and its SHA-256 recorded', async () => {
    const { result } = await validate(files.valid, 'UserMapping.csv');
    assert.equal(result.errors, 1);
    assert.equal(result.mappingSha256, sha256(files.valid));
  });
});
