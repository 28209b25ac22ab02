// A real Temporal cluster, not the dev server: what docker-compose.yml deploys,
// run from the same deploy/ files without containers. The official schema tool
// sets up Temporal's two databases on PostgreSQL (deploy/temporal/setup-schema.sh),
// `temporal-server` runs with deploy/temporal/server.yaml (PostgreSQL persistence,
// SQL visibility), the search-attribute job registers the product's attributes
// (deploy/temporal/register-search-attributes.sh), and two worker processes share
// the control plane on PostgreSQL. On it a batch of migrations runs to the end
// while one worker is killed with SIGKILL in the middle of a re-mapping it runs,
// and the server process is stopped and started again on the same databases;
// nothing is lost and nothing is done twice.
//
// The server runs Temporal's own authorization, as a deployment with an identity
// provider does (docs/deployment.md): every caller presents a token whose `roles`
// claim the default claim mapper reads. The setup job is `temporal-system:admin`;
// the workers get theirs by client credentials and renew them while they run; the
// admins' client is `default:write`; a reader is `default:read`; no token, no call.
//
// Last, the product with sign-in on, as deploy/kubernetes runs it on such a cluster: the
// action gateway as its own process with the settings its manifests give it and a token of
// its own for Temporal, a worker that takes only what the gateway signed, and admins signed
// in at the sandbox provider. Their submit and approve reach the migration through the
// gateway as signed actions; a writer's raw approve sent around the gateway is refused by
// the workflow itself.
//
// Run by `npm run test:cluster` (which first builds the server), not by `npm test`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import YAML from 'yaml';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Connection, WorkflowClient } from '@temporalio/client';
import { SearchAttributeType, defaultPayloadConverter } from '@temporalio/common';
import { projectRoot } from '../../src/temporal-binaries';
import { submitBatch } from '../../src/client/migrations';
import { loadConfig } from '../../src/config';
import { startSandboxIdentity } from '../../src/identity/sandbox';
import type { LocalProvider } from '../../src/identity/local-provider';
import { signInWithDeviceCode } from '../../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../../src/identity/sandbox-device-sign-in';
import { checkActionProof, submitProofPayload, type ActionProof, type PublishedKey } from '../../src/identity/action-proof';
import { keyIdOf } from '../../src/gateway/keys';
import {
  ALL_SEARCH_ATTRIBUTES,
  BATCH_WORKFLOW_TYPE,
  BatchStatus,
  MIGRATION_WORKFLOW_TYPE,
  SEARCH_ATTRIBUTE_TYPE_NAMES,
  approveSignal,
  batchStatusQuery,
  batchWorkflowId,
  cancelSignal,
  migrationWorkflowId,
  statusQuery,
  type MigrationInput,
  type MigrationStatus,
} from '../../src/contracts';
import { testPostgres, RunningPostgres } from '../helpers/postgres';
import { startTestAzurite, RunningAzurite } from '../helpers/azurite';
import { makeTestWorld, TestWorld } from '../helpers/world';
import { startProduct, Product, uploadWithSas } from '../helpers/product';
import { freePort } from '../helpers/ports';
import {
  DEPLOY,
  ClusterTools,
  PostgresAccount,
  TemporalServerProcess,
  clusterTools,
  postgresAccount,
  runDeployScript,
  schemaJobEnv,
  toolsPath,
} from './cluster';
import { startTokenIssuer, Principal, TokenIssuer } from './token-issuer';
import { actionsIn } from '../helpers/histories';
import { ProductProcess, startProductProcess, stopProductProcess } from '../helpers/product-processes';

const ENVIRONMENTS = 6;
const CONCURRENCY = 2;
/** mapped users per environment: enough that a re-mapping (in batches of REMAP_BATCH) takes a few seconds */
const USERS = 600;
const REMAP_BATCH = 5;
/** the activity that runs the migrate steps (re-link, re-map users, ...) on the simulated service, heartbeating its progress */
const MIGRATE_ACTIVITY = 'migrateEnvironment';

/** The Temporal app's Application ID URI: the tokens' audience. */
const AUDIENCE = 'api://t2t-temporal';
/** Service principals and the app roles assigned to them; the role values are Temporal permissions. */
const principal = (clientId: string, roles: string[]): Principal => ({ clientId, secret: randomBytes(16).toString('hex'), roles });
const SETUP = principal('t2t-setup', ['temporal-system:admin']);
const WORKER = principal('t2t-worker', ['default:write']);
const ADMINS = principal('t2t-admins', ['default:write']);
/** the action gateway's own: it starts migrations and sends the admins' actions (docs/deployment.md, the app roles) */
const GATEWAY = principal('t2t-gateway', ['default:write']);
const READER = principal('t2t-reader', ['default:read']);
/** The workers' tokens live this long (seconds): they renew them several times during the batch. */
const WORKER_TOKEN_LIFETIME = 20;
/** grpc status PERMISSION_DENIED: what Temporal's authorizer answers a call it refuses */
const PERMISSION_DENIED = 7;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Until `read` gives a value `done` accepts; errors count as not yet (the server may be starting). */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await read();
      if (done(value)) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; last: ${JSON.stringify(last)?.slice(0, 1000)}`);
    await sleep(250);
  }
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
async function within<T>(timeoutMs: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting until ${what}`)), timeoutMs)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The newest version among a schema's `versioned/vX.Y` folders. */
function newestSchemaVersion(dir: string): string {
  const versions = readdirSync(dir).map((name) => name.replace(/^v/, '').split('.').map(Number));
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return versions[versions.length - 1].join('.');
}

/** `identity`: the SDK's default worker identity, as the server records it on the activities a worker runs */
type WorkerProcess = ProductProcess & { identity: string };

describe('a real Temporal cluster: temporal-server on PostgreSQL with SQL visibility, deployed by deploy/, two workers @cluster', function () {
  this.timeout(900_000);
  const suffix = randomBytes(4).toString('hex');
  const databases = { temporal: `temporal_${suffix}`, visibility: `temporal_visibility_${suffix}` };
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-cluster-'));
  let tools: ClusterTools;
  let postgres: RunningPostgres;
  let pg: PostgresAccount;
  let server: TemporalServerProcess | undefined;
  let azurite: RunningAzurite | undefined;
  let env: TestWorkflowEnvironment | undefined;
  let product: Product | undefined;
  let issuer: TokenIssuer;
  /** Temporal's authorization for a worker process: the worker's service principal, by client credentials, in plain gRPC. */
  const workerCredentials = () => ({
    T2T_TEMPORAL_TOKEN_URL: issuer.tokenUrl,
    T2T_TEMPORAL_CLIENT_ID: WORKER.clientId,
    T2T_TEMPORAL_CLIENT_SECRET: WORKER.secret,
    T2T_TEMPORAL_TOKEN_SCOPE: issuer.scope,
    TEMPORAL_TLS: 'false',
  });
  /** an environment the batch migrated */
  let migrated: string | undefined;
  const workers: WorkerProcess[] = [];
  /** sign-in on (the last test): the gateway and its worker, the admins' provider, the driving product */
  const signedProcesses: ProductProcess[] = [];
  let provider: LocalProvider | undefined;
  let signedProduct: Product | undefined;

  before(async () => {
    tools = clusterTools();
    postgres = await testPostgres();
    pg = postgresAccount(postgres.url);
    issuer = await startTokenIssuer(AUDIENCE, [SETUP, WORKER, ADMINS, READER, GATEWAY], WORKER_TOKEN_LIFETIME);
  });

  after(async () => {
    for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    for (const p of signedProcesses) await stopProductProcess(p, 5_000);
    await provider?.close();
    await signedProduct?.stop();
    await product?.stop();
    await env?.teardown();
    await server?.stop(10_000);
    await issuer?.close();
    await azurite?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What went wrong, from the processes' own output. */
  const diagnostics = () =>
    [`temporal-server (${server?.logFile}):\n${server?.tail() ?? ''}`, ...workers.map((w) => `worker ${w.identity}:\n${w.output.slice(-3000)}`)].join('\n\n');

  it('docker-compose.yml deploys what this test runs: the same server version, server.yaml and dynamic config, and the same two jobs', () => {
    const compose = YAML.parse(readFileSync(path.join(projectRoot(), 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string; environment?: Record<string, string>; volumes?: string[]; entrypoint?: string[] }>;
    };
    /** `${NAME:-default}` as compose resolves it with nothing set */
    const resolved = (value: string) => value.replace(/\$\{\w+:-([^}]*)\}/g, '$1');
    /** the repository file a container path comes from, through the service's bind mounts */
    const hostFile = (service: string, inside: string) => {
      for (const volume of compose.services[service].volumes ?? []) {
        const [source, target] = volume.split(':');
        if (source.startsWith('.') && inside.startsWith(`${target}/`)) return path.join(projectRoot(), source, inside.slice(target.length + 1));
      }
      return undefined;
    };
    const built = execFileSync(path.join(tools.binDir, 'temporal-server'), ['--version'], { encoding: 'utf8' }).trim().split(' ').pop();
    for (const service of ['temporal', 'temporal-schema', 'temporal-setup']) {
      assert.equal(resolved(compose.services[service].image ?? '').split(':').pop(), built, `${service} runs the Temporal version built here`);
    }
    const environment = compose.services.temporal.environment ?? {};
    assert.equal(hostFile('temporal', environment.TEMPORAL_SERVER_CONFIG_FILE_PATH), path.join(DEPLOY, 'server.yaml'));
    assert.equal(hostFile('temporal', environment.DYNAMIC_CONFIG_FILE_PATH), path.join(DEPLOY, 'dynamicconfig', 'docker.yaml'));
    // Every other variable it sets is one that server.yaml reads: nothing set in vain.
    const template = readFileSync(path.join(DEPLOY, 'server.yaml'), 'utf8');
    for (const name of Object.keys(environment).filter((n) => !['TEMPORAL_SERVER_CONFIG_FILE_PATH', 'TEMPORAL_ALLOW_NO_AUTH'].includes(n))) {
      assert.ok(template.includes(`env "${name}"`), `compose sets ${name}, which deploy/temporal/server.yaml does not read`);
    }
    for (const [service, script] of [
      ['temporal-schema', 'setup-schema.sh'],
      ['temporal-setup', 'register-search-attributes.sh'],
    ]) {
      const entrypoint = compose.services[service].entrypoint ?? [];
      assert.equal(hostFile(service, entrypoint[entrypoint.length - 1]), path.join(DEPLOY, script), `${service} runs deploy/temporal/${script}`);
    }
  });

  it('setup-schema.sh creates both databases with temporal-sql-tool and brings them to the newest schema; a second run changes nothing', async () => {
    const jobEnv = schemaJobEnv(tools, pg, databases);
    const first = await runDeployScript('setup-schema.sh', jobEnv);
    assert.match(first, new RegExp(`database ${databases.temporal} ready`));
    assert.match(first, new RegExp(`database ${databases.visibility} ready`));
    assert.match(first, /Temporal schemas ready/);
    const second = await runDeployScript('setup-schema.sh', jobEnv);
    assert.match(second, /Temporal schemas ready/);
    assert.equal(second.match(/found zero updates from current version/g)?.length, 2, `the second run found nothing to update:\n${second}`);

    for (const [database, schema] of [
      [databases.temporal, 'temporal'],
      [databases.visibility, 'visibility'],
    ]) {
      const client = new PgClient({ connectionString: postgres.url.replace(/\/[^/]*$/, `/${database}`) });
      await client.connect();
      try {
        const { rows } = await client.query<{ curr_version: string }>('SELECT curr_version FROM schema_version');
        const expected = newestSchemaVersion(path.join(tools.schemaDir, 'postgresql', 'v12', schema, 'versioned'));
        assert.deepEqual(
          rows.map((r) => r.curr_version),
          [expected],
          `${database} is at the newest ${schema} schema`,
        );
      } finally {
        await client.end();
      }
    }
  });

  it('temporal-server starts on them with deploy/temporal/server.yaml and the JWT authorizer; register-search-attributes.sh (temporal-system:admin) creates the namespace and every search attribute, and finds them on a second run', async () => {
    server = await TemporalServerProcess.create(tools, pg, databases, path.join(dir, 'temporal-server.log'), {
      keysUrl: issuer.keysUrl,
      audience: AUDIENCE,
      permissionsClaim: 'roles',
    });
    server.start();
    const jobEnv = {
      PATH: toolsPath(tools),
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      T2T_NAMESPACE_RETENTION: '1d',
      // the CLI sends its API key as the bearer token; plain gRPC on loopback
      TEMPORAL_API_KEY: await issuer.mint(SETUP),
      TEMPORAL_TLS: 'false',
    };
    const first = await runDeployScript('register-search-attributes.sh', jobEnv).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnostics()}`);
    });
    assert.match(first, /namespace default created/);
    for (const key of ALL_SEARCH_ATTRIBUTES) assert.match(first, new RegExp(`search attribute ${key.name} \\(${SEARCH_ATTRIBUTE_TYPE_NAMES[key.type]}\\) ready`));
    assert.match(first, /namespace default and its search attributes are ready/);
    const second = await runDeployScript('register-search-attributes.sh', jobEnv);
    assert.match(second, /namespace default exists/);

    // Without a token the server takes no call but its health check.
    const anonymous = await Connection.connect({ address: server.address });
    try {
      await assert.rejects(anonymous.workflowService.describeNamespace({ namespace: 'default' }), (err: { code?: number }) => err.code === PERMISSION_DENIED);
    } finally {
      await anonymous.close();
    }

    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: server.address,
      namespace: 'default',
      connectionOptions: { apiKey: await issuer.mint(ADMINS), tls: false },
    });
    const listed = await env.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    // temporal.api.enums.v1.IndexedValueType, by number
    const indexedValueType: Record<string, number> = { [SearchAttributeType.KEYWORD]: 2, [SearchAttributeType.BOOL]: 5, [SearchAttributeType.DATETIME]: 6 };
    for (const key of ALL_SEARCH_ATTRIBUTES) assert.equal(listed.customAttributes?.[key.name], indexedValueType[key.type], `${key.name} is a ${key.type}`);
    const cluster = await env.connection.workflowService.getSystemInfo({});
    assert.match(cluster.serverVersion ?? '', /^1\.32\./, 'the pinned server answers, not a dev server');
  });

  it('a batch runs to the end while a worker is SIGKILLed mid-re-mapping and the server restarts: every environment migrated once, every workflow completed', async () => {
    assert.ok(server && env, 'the server runs (previous test)');
    const temporal = env;
    azurite = await startTestAzurite();
    const databaseUrl = await postgres.createDatabase(`t2t_${suffix}`);
    const w: TestWorld = makeTestWorld({ users: USERS, unmappedUsers: 2, environments: ENVIRONMENTS });
    // This process only drives, as the admins' clients do; the two worker processes do the work.
    const p = (product = await startProduct({ env: temporal, azurite, world: w.world, databaseUrl }));
    await p.stopWorker();

    const startWorker = async (): Promise<WorkerProcess> => {
      const started = await startProductProcess(
        'worker',
        path.join('dist', 'src', 'worker.js'),
        {
          // Payload encryption is another test's subject (codec.test.ts, payload-encryption.test.ts).
          T2T_PAYLOAD_ENCRYPTION: 'off',
          // Signed actions are other tests' subject (signed-actions, signed-paths): this one drives the batch with raw ones.
          T2T_AUTH: process.env.T2T_AUTH ?? 'off',
          PATH: process.env.PATH,
          TEMPORAL_ADDRESS: server!.address,
          T2T_TASK_QUEUE: p.config.taskQueue,
          T2T_DATABASE_URL: databaseUrl,
          AZURE_STORAGE_CONNECTION_STRING: azurite!.connectionString,
          T2T_REMAP_BATCH_SIZE: String(REMAP_BATCH),
          ...workerCredentials(),
        },
        'worker: serving task queue',
      );
      const worker = Object.assign(started, { identity: `${started.child.pid}@${os.hostname()}` });
      workers.push(worker);
      return worker;
    };
    await Promise.all([startWorker(), startWorker()]);

    const submitted = await submitBatch(
      { client: temporal.client, controlPlane: p.controlPlane, config: p.config },
      { sourceTenantId: w.source, targetTenantId: w.target, actor: w.sourceAdmin, concurrency: CONCURRENCY },
    );
    assert.equal(submitted.environments.length, ENVIRONMENTS);
    migrated = submitted.environments[0].environmentId;
    const batch = temporal.client.workflow.getHandle(batchWorkflowId(submitted.batchId));

    // The admins' actions and the server restart take turns: a restart never cuts an action in two.
    let turn: Promise<unknown> = Promise.resolve();
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = turn.then(fn, fn);
      turn = run.catch(() => undefined);
      return run;
    };
    let status: BatchStatus = await batch.query(batchStatusQuery);

    /** The re-mappings part-way through (with a margin: not about to end), and the worker that last started each. */
    const remapsInFlight = async (): Promise<{ environmentId: string; migrationId: string; done: number; identity?: string }[]> => {
      const found = [];
      for (const { environmentId, migrationId } of submitted.environments) {
        const done = (await p.controlPlane.listRemaps(migrationId)).length;
        if (done === 0 || done > USERS - 20 * REMAP_BATCH) continue;
        const description = await temporal.client.workflow.getHandle(migrationWorkflowId(environmentId)).describe();
        const remap = description.raw.pendingActivities?.find((a) => a.activityType?.name === MIGRATE_ACTIVITY);
        found.push({ environmentId, migrationId, done, identity: remap?.lastWorkerIdentity ?? undefined });
      }
      return found;
    };
    const alive = () => workers.filter((x) => x.child.exitCode === null && x.child.signalCode === null);

    // The faults, while the admins go on: first kill a worker in the middle of a re-mapping it
    // runs; then, while the other worker runs one, stop the server and start it again.
    let killed: { environmentId: string; migrationId: string; done: number; identity: string } | undefined;
    let restarted: { whileRemapping?: string; downMs: number; stop: 'exited' | 'killed'; endedBefore: number } | undefined;
    let finished = false;
    let faultsFailed: unknown;
    const faults = (async () => {
      while (!killed && !finished) {
        for (const inFlight of await remapsInFlight()) {
          const victim = alive().find((x) => x.identity === inFlight.identity);
          if (!victim) continue;
          const exited = new Promise((resolve) => victim.child.once('exit', resolve));
          victim.child.kill('SIGKILL');
          await exited;
          killed = { ...inFlight, done: (await p.controlPlane.listRemaps(inFlight.migrationId)).length, identity: victim.identity };
          break;
        }
        await sleep(25);
      }
      while (!restarted && !finished) {
        const running = (await remapsInFlight()).find((r) => alive().some((x) => x.identity === r.identity));
        const ended = status.outcomes.filter((o) => o.state === 'ended').length;
        if (running || ended >= ENVIRONMENTS - 2) {
          await exclusive(async () => {
            const stoppedAt = Date.now();
            const stop = await server!.stop();
            server!.start();
            await until('the restarted server answers the batch query', () => batch.query(batchStatusQuery), () => true, 180_000);
            restarted = { whileRemapping: running?.environmentId, downMs: Date.now() - stoppedAt, stop, endedBefore: ended };
          });
        }
        await sleep(25);
      }
    })().catch((err: unknown) => {
      faultsFailed = err;
    });

    try {
      // The admins act on each migration as the batch starts it (a few at once: the batch waits for people).
      const handled = new Set<string>();
      const deadline = Date.now() + 600_000;
      while (!(status = await exclusive(() => batch.query(batchStatusQuery))).done) {
        assert.ok(Date.now() < deadline, `the batch finished in time: ${JSON.stringify(status.summary)}`);
        assert.ok(status.outcomes.filter((o) => o.migrateSlot === 'held').length <= CONCURRENCY, `at most ${CONCURRENCY} migrating at once`);
        const next = status.outcomes.find((o) => o.state === 'running' && !handled.has(o.environmentId));
        if (next) {
          await exclusive(async () => {
            const child = temporal.client.workflow.getHandle(migrationWorkflowId(next.environmentId));
            const started = await child.describe().then(
              () => true,
              () => false,
            );
            if (!started) return; // the batch is starting it: next round
            handled.add(next.environmentId);
            await p.client.waitForStatus(child, (s) => s.phase === 'PendingApproval', 120_000);
            // by migration id, as `t2t` does: found through SQL visibility's custom search attributes
            assert.equal((await p.client.act(next.targetMigrationId, 'approve', { actor: w.targetAdmin })).entry.outcome, 'accepted');
            const storage = await p.client.act(next.migrationId, 'requestStorage', { actor: w.sourceAdmin });
            await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
            const prepared = await p.client.act(next.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
            assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason);
            assert.equal((await p.client.act(next.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target })).entry.outcome, 'accepted');
          });
        }
        await sleep(200);
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\n\n${diagnostics()}`);
    } finally {
      finished = true;
      await faults;
    }
    if (faultsFailed) throw faultsFailed;

    // Both faults happened while the batch was still running.
    assert.ok(killed, 'a worker was killed while it ran a re-mapping');
    assert.ok(killed.done > 0 && killed.done < USERS, `the kill landed mid-re-mapping (${killed.done} of ${USERS} users)`);
    assert.ok(restarted, 'the server was restarted while the batch ran');
    assert.ok(restarted.endedBefore < ENVIRONMENTS, 'the restart came before the last migration ended');
    assert.equal(restarted.stop, 'exited', `temporal-server stopped on SIGTERM:\n${server.tail()}`);
    const survivor = workers.find((x) => x.identity !== killed!.identity)!;
    assert.equal(survivor.child.exitCode, null, `the other worker rode through the restart:\n${survivor.output.slice(-3000)}`);

    // The batch: every environment succeeded, and the batch workflow completed.
    assert.deepEqual(status.summary, { Succeeded: ENVIRONMENTS });
    // done shows in the query a task before the batch's run closes.
    await batch.result();
    assert.equal((await batch.describe()).status.name, 'COMPLETED');

    // The control plane: each environment moved once, each mapped user re-mapped exactly once.
    for (const outcome of status.outcomes) {
      assert.equal(outcome.phase, 'Succeeded', `${outcome.environmentId}: ${outcome.reason ?? ''}`);
      const environment = (await p.controlPlane.getEnvironment(outcome.environmentId))!;
      assert.equal(environment.tenantId, w.target, `${outcome.environmentId} is in the target tenant`);
      assert.equal(environment.previousTenantId, w.source);
      assert.equal(environment.sourceAccess, false);
      const remaps = await p.controlPlane.listRemaps(outcome.migrationId);
      assert.equal(remaps.length, USERS, `${outcome.environmentId}: every mapped user re-mapped`);
      assert.ok(remaps.every((r) => r.appliedCount === 1), `${outcome.environmentId}: each user re-mapped once`);
      assert.equal(new Set(remaps.map((r) => r.sourceUpn.toLowerCase())).size, USERS, 'no user twice');
      assert.equal(await p.controlPlane.countEnvironmentUsers(outcome.environmentId), USERS + 2 + 1, 'nobody lost or added');
      // The batch learns of the end (migrationEnded) a task before the child's run closes: wait for it.
      const handle = temporal.client.workflow.getHandle(migrationWorkflowId(outcome.environmentId));
      await handle.result();
      const workflow = await handle.describe();
      assert.equal(workflow.status.name, 'COMPLETED', `${outcome.environmentId}'s workflow completed`);
    }

    // The migrate activity the killed worker was running was finished by the other one, on a later
    // attempt (resuming the re-mapping from its last heartbeat: each user once, as checked above).
    const history = await temporal.client.workflow.getHandle(migrationWorkflowId(killed.environmentId)).fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === MIGRATE_ACTIVITY);
    const started = history.events!.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId));
    assert.ok(started, `the killed worker's ${MIGRATE_ACTIVITY} ran to its end`);
    assert.equal(started.activityTaskStartedEventAttributes!.identity, survivor.identity, 'on the other worker');
    assert.ok((started.activityTaskStartedEventAttributes!.attempt ?? 1) > 1, 'as a retry of the attempt that was killed');

    // SQL visibility agrees: every migration and the batch completed, nothing of theirs still runs.
    const count = (query: string) => temporal.client.workflow.count(`T2TSourceTenantId = '${w.source}' AND ${query}`).then((c) => c.count);
    await until('visibility shows every migration completed', () => count(`WorkflowType = '${MIGRATION_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`), (n) => n === ENVIRONMENTS, 60_000);
    await until('visibility shows the batch completed', () => count(`WorkflowType = '${BATCH_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`), (n) => n === 1, 60_000);
    assert.equal(await count(`T2TPhase = 'Succeeded'`), ENVIRONMENTS);
    assert.equal(await count(`ExecutionStatus = 'Running'`), 0);

    // The workers' tokens expired during the batch: each worker asked for new ones, and its connections took them.
    const workerTokens = issuer.issued.get(WORKER.clientId) ?? 0;
    assert.ok(workerTokens > workers.length, `the workers renewed their ${WORKER_TOKEN_LIFETIME} s tokens (${workerTokens} issued to ${workers.length} workers)`);

    console.log(
      `      worker killed at ${killed.done}/${USERS} users re-mapped; server restarted` +
        `${restarted.whileRemapping ? ' during a re-mapping' : ''} after ${restarted.endedBefore} of ${ENVIRONMENTS} migrations ended, down ${Math.round(restarted.downMs / 1000)} s;` +
        ` ${workerTokens} worker tokens issued`,
    );
  });

  it('a read-only principal (default:read) describes and queries a migration, and its signal is refused; a writer\'s same signal passes authorization', async () => {
    assert.ok(server && env && migrated, 'the batch ran (previous test)');
    const environmentId = migrated;
    const connection = await Connection.connect({ address: server.address, apiKey: await issuer.mint(READER), tls: false });
    try {
      const reader = new WorkflowClient({ connection, namespace: 'default' });
      const handle = reader.getHandle(migrationWorkflowId(environmentId));
      assert.equal((await handle.describe()).status.name, 'COMPLETED');
      assert.equal((await handle.query(statusQuery)).phase, 'Succeeded', 'the reader queries (a worker answers)');
      await assert.rejects(handle.signal(cancelSignal, { actor: 'reader@contoso.com' }), (err: { code?: number; cause?: { code?: number } }) =>
        [err.code, err.cause?.code].includes(PERMISSION_DENIED),
      );
    } finally {
      await connection.close();
    }
    // The writer's signal gets past authorization and meets the workflow's state instead.
    await assert.rejects(env.client.workflow.getHandle(migrationWorkflowId(environmentId)).signal(cancelSignal, { actor: 'admin@contoso.com' }), (err: Error) =>
      /completed|not found/i.test(err.message),
    );
  });

  it("sign-in on: the action gateway, run as deploy/kubernetes runs it with a Temporal token of its own, forwards the source admin's submit and the target admin's approve as signed actions, which a worker with T2T_AUTH=on takes with the verified admins as actors; a writer's raw approve around the gateway is refused by the workflow", async () => {
    assert.ok(server && env, 'the server runs (earlier tests)');
    const temporal = env;
    const temporalAddress = server.address;
    const blobs = (azurite ??= await startTestAzurite());
    const databaseUrl = await postgres.createDatabase(`t2t_signed_${suffix}`);
    const w = makeTestWorld({ users: 3 });
    // A task queue of its own: the batch's worker, which takes raw actions, still polls the other.
    const taskQueue = `t2t-signed-${suffix}`;
    // This process loads the world and reads what the processes did; it runs no worker.
    const p = (signedProduct = await startProduct({ env: temporal, azurite: blobs, world: w.world, databaseUrl, taskQueue }));
    await p.stopWorker();

    // The gateway's manifests: its command, and the settings of its ConfigMap.
    const manifest = (file: string) => YAML.parse(readFileSync(path.join(projectRoot(), 'deploy', 'kubernetes', 'gateway', file), 'utf8'));
    const deployed = (manifest('configmap.yaml') as { data: Record<string, string> }).data;
    const [container] = (manifest('deployment.yaml') as { spec: { template: { spec: { containers: { command: string[] }[] } } } }).spec.template.spec.containers;
    assert.equal(container.command.length, 2);
    assert.equal(container.command[0], 'node');

    // The admins' identity provider: the sandbox's, knowing the world's users, for the API the gateway is deployed for.
    const identityDir = path.join(dir, 'identity');
    const signInConfig = loadConfig({ T2T_DATA_DIR: identityDir, T2T_IDENTITY_PORT: String(await freePort()), T2T_AUTH_API: deployed.T2T_AUTH_API });
    provider = await startSandboxIdentity(signInConfig, p.controlPlane, { port: signInConfig.signIn.sandboxPort });
    const ca = readFileSync(signInConfig.signIn.sandboxCertificateFile, 'utf8');

    // What the Secret t2t-gateway holds: its signing key; and the token its own principal has for Temporal.
    const gatewayDir = path.join(dir, 'gateway');
    mkdirSync(gatewayDir, { mode: 0o700 });
    const keyPem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const keyFile = path.join(gatewayDir, 'signing-key.pem');
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    const tokenFile = path.join(gatewayDir, 'temporal-token');
    writeFileSync(tokenFile, await issuer.mint(GATEWAY), { mode: 0o600 });
    const gatewayAddress = `127.0.0.1:${await freePort()}`;
    const gatewayUrl = `http://${gatewayAddress}`;
    // Each setting of the ConfigMap, for this loopback: the provider as the issuer, a free port, the key file made here.
    const own: Record<string, string> = { T2T_AUTH_AUTHORITY: provider.issuer, T2T_AUTH_API: deployed.T2T_AUTH_API, T2T_GATEWAY_ADDRESS: gatewayAddress, T2T_GATEWAY_KEY_FILE: keyFile };
    assert.deepEqual(Object.keys(own).sort(), Object.keys(deployed).sort(), "the gateway's ConfigMap's settings, each given");
    const gatewayEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      // The worker's settings (its ConfigMap and Secret), which the gateway reads too.
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      T2T_TASK_QUEUE: taskQueue,
      T2T_DATABASE_URL: databaseUrl,
      AZURE_STORAGE_CONNECTION_STRING: blobs.connectionString,
      // Payload encryption is another test's subject (codec.test.ts, payload-encryption.test.ts).
      T2T_PAYLOAD_ENCRYPTION: 'off',
      ...own,
      // Temporal's authorization: the gateway's own principal, its token in a file; plain gRPC on loopback.
      T2T_TEMPORAL_TOKEN_FILE: tokenFile,
      TEMPORAL_TLS: 'false',
      // The provider's certificate is self-signed: trusted as a private CA is, by Node's own setting.
      NODE_EXTRA_CA_CERTS: signInConfig.signIn.sandboxCertificateFile,
      // anything it would keep goes with the test's files, not into the working directory
      T2T_DATA_DIR: gatewayDir,
    };
    assert.equal(loadConfig(gatewayEnv).signIn.sandbox, false, "tokens from the named issuer, as from Entra ID: not the embedded stack's provider");
    signedProcesses.push(await startProductProcess('gateway', container.command[1], gatewayEnv, 'action gateway on', 60_000));
    signedProcesses.push(
      await startProductProcess(
        'worker (T2T_AUTH=on)',
        path.join('dist', 'src', 'worker.js'),
        {
          PATH: process.env.PATH,
          T2T_PAYLOAD_ENCRYPTION: 'off',
          // Sign-in on: only what the gateway signed counts, checked against the keys it publishes.
          T2T_AUTH: 'on',
          T2T_GATEWAY_URL: gatewayUrl,
          TEMPORAL_ADDRESS: temporalAddress,
          T2T_TASK_QUEUE: taskQueue,
          T2T_DATABASE_URL: databaseUrl,
          AZURE_STORAGE_CONNECTION_STRING: blobs.connectionString,
          ...workerCredentials(),
        },
        'worker: serving task queue',
      ),
    );

    /** A world user's access token for the gateway's API, signed in by device code at the provider's pages. */
    const signedIn = async (upn: string): Promise<string> => {
      const settings = { ...signInConfig.signIn, tokenCacheFile: path.join(identityDir, `${upn}.token-cache.json`) };
      const complete = (prompt: { verificationUri: string; userCode: string }) => completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn, ca });
      const who = await within(60_000, `${upn} is signed in`, signInWithDeviceCode(settings, complete));
      assert.equal(who.user, upn);
      return who.accessToken;
    };
    const post = async (route: string, body: unknown, token?: string) => {
      const res = await fetch(`${gatewayUrl}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
      return { status: res.status, body: await res.text() };
    };
    const handle = temporal.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    const history = async () => (await handle.fetchHistory()).events ?? [];

    try {
      const keys = ((await (await fetch(`${gatewayUrl}/v1/keys`, { signal: AbortSignal.timeout(10_000) })).json()) as { keys: PublishedKey[] }).keys;
      assert.deepEqual(
        keys.map((k) => k.kid),
        [keyIdOf(keyPem)],
        'it publishes the key of its key file',
      );

      // The source tenant's admin submits through the gateway, which starts the migration with its own token.
      const submit = { environmentId: w.environmentId, targetTenantId: w.target };
      assert.equal((await post('/v1/migrations', submit)).status, 401, 'no sign-in, no submit');
      const submitted = await post('/v1/migrations', submit, await signedIn(w.sourceAdmin));
      assert.equal(submitted.status, 200, submitted.body);
      const first = (JSON.parse(submitted.body) as { status: MigrationStatus }).status;
      assert.equal(first.phase, 'PendingApproval', first.reason);
      const input = defaultPayloadConverter.fromPayload<MigrationInput>((await history())[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);
      assert.equal(input.migrationId, first.migrationId);
      assert.equal(input.submittedBy, w.sourceAdmin);
      assert.equal(input.proof?.claims.user, w.sourceAdmin);
      assert.equal(input.proof?.claims.tenantId, w.source);
      assert.equal(checkActionProof(input.proof, { action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input) }, keys).ok, true);

      // A writer (default:write) sends a raw approve straight to Temporal: it passes Temporal's authorization, and the workflow refuses it.
      await handle.signal(approveSignal, { actor: w.targetAdmin, requestId: 'raw-approve' });
      const afterRaw = await p.client.waitForStatus(handle, (s) => s.audit.some((e) => e.requestId === 'raw-approve'), 60_000);
      const raw = afterRaw.audit.find((e) => e.requestId === 'raw-approve')!;
      assert.equal(raw.outcome, 'refused');
      assert.equal(raw.reason, 'approve refused: unsigned: the action carries no gateway proof');
      assert.equal(afterRaw.phase, 'PendingApproval', 'nothing changed');
      await until(
        'the refusal is in the audit trail',
        () => p.auditLog.list(input.migrationId),
        (trail) => trail.some((e) => e.action === 'approve' && e.outcome === 'refused' && e.reason === raw.reason),
        30_000,
      );

      // The target tenant's admin approves through the gateway, by the target migration id, which SQL visibility finds once it has the start.
      await until('visibility has the migration', () => temporal.client.workflow.count(`T2TTargetMigrationId = '${input.targetMigrationId}'`).then((c) => c.count), (n) => n === 1, 30_000);
      const approved = await post(`/v1/migrations/${input.targetMigrationId}/actions/approve`, { actor: 'mallory@fabrikam.com' }, await signedIn(w.targetAdmin));
      assert.equal(approved.status, 200, approved.body);
      const answer = JSON.parse(approved.body) as { outcome: string; entry: { actor: string }; status: MigrationStatus };
      assert.equal(answer.outcome, 'accepted');
      assert.equal(answer.entry.actor, w.targetAdmin, 'the verified admin, not the typed name');

      // The migration's own record: the raw signal without a proof, the gateway's approve with its proof of the verified admin.
      const approves = actionsIn(await history()).filter((a) => a.name === 'approve');
      assert.deepEqual(
        approves.map((a) => [a.kind, a.arg.actor, (a.arg.proof as ActionProof | undefined)?.claims.user]),
        [
          ['signal', w.targetAdmin, undefined],
          ['update', w.targetAdmin, w.targetAdmin],
        ],
      );
      const proof = approves[1].arg.proof as ActionProof;
      assert.equal(proof.claims.tenantId, w.target);
      assert.equal(checkActionProof(proof, { action: 'approve', migrationId: input.targetMigrationId, payload: approves[1].arg }, keys).ok, true);
      const status = await p.client.waitForStatus(handle, (s) => s.phase === 'Approved', 30_000);
      assert.deepEqual(
        status.audit.map((e) => [e.action, e.outcome, e.actor, e.proof?.claims.user]),
        [
          ['submit', 'accepted', w.sourceAdmin, w.sourceAdmin],
          ['approve', 'refused', w.targetAdmin, undefined],
          ['approve', 'accepted', w.targetAdmin, w.targetAdmin],
        ],
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n\n${signedProcesses.map((x) => `${x.name}:\n${x.output.slice(-3000)}`).join('\n\n')}`);
    }
  });
});
