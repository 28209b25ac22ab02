// docker-compose.yml and the Dockerfile are for hosts with a Docker engine; here
// the Compose Specification's JSON schema checks that the compose file is valid
// (test/helpers/compose.ts resolves it as `docker compose config` would, and a
// compose tool, where one is installed, must accept it too), and the test holds
// it to its promises: every service of a
// deployment, a worker that scales, loopback-only ports, pinned images, every
// search attribute registered, files that exist where they are mounted, and an
// image that runs the same entry point as `npm run worker`.
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { ALL_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_TYPE_NAMES } from '../src/contracts';
import { ComposeError, resolveCompose, Yaml, YamlMap } from './helpers/compose';

const ROOT = projectRoot();
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const EXPECTED_SERVICES = [
  'azurite',
  'codec-server',
  'control-plane-db',
  'gateway',
  'postgresql',
  'prometheus',
  'temporal',
  'temporal-schema',
  'temporal-setup',
  'temporal-ui',
  'worker',
];

function asMap(value: Yaml | undefined, what: string): YamlMap {
  assert.ok(value !== undefined && typeof value === 'object' && !Array.isArray(value), `${what} is not a mapping`);
  return value;
}

function asList(value: Yaml | undefined): string[] {
  if (value === undefined) return [];
  assert.ok(Array.isArray(value), `expected a list, got ${JSON.stringify(value)}`);
  return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

// ---- resolving the compose file ------------------------------------------------

/** `docker compose config`, with only the variables given: neither the caller's environment nor a `.env` file changes the defaults. */
const compose = (vars: Record<string, string> = {}) => resolveCompose(COMPOSE_FILE, vars);

/** Whether a compose tool is installed here; when it is, it must accept the file too. */
function composeTool(): string[] | undefined {
  for (const command of [['docker-compose'], ['docker', 'compose']]) {
    const probe = spawnSync(command[0], [...command.slice(1), 'version'], { stdio: 'ignore' });
    if (!probe.error && probe.status === 0) return command;
  }
  return undefined;
}

/** host path of a bind mount `source:target[:mode]` whose target holds `inside` */
function hostPath(volumes: string[], inside: string): string | undefined {
  for (const volume of volumes) {
    const [source, target] = volume.split(':');
    if (!source.startsWith('/')) continue; // a named volume
    if (inside === target) return source;
    if (inside.startsWith(`${target}/`)) return path.join(source, inside.slice(target.length + 1));
  }
  return undefined;
}

describe('docker-compose.yml', function () {
  let services: YamlMap;
  let config: YamlMap;

  let resolved: ReturnType<typeof compose>;

  before(() => {
    resolved = compose();
    config = resolved.config;
    services = asMap(config.services, 'services');
  });

  const service = (name: string): YamlMap => asMap(services[name], `service ${name}`);
  const environment = (name: string): YamlMap => asMap(service(name).environment ?? {}, `${name}'s environment`);

  it('has no top-level version key (compose v2 warns about it), follows the Compose Specification, and a compose tool here accepts it', function () {
    this.timeout(60_000);
    const source = readFileSync(COMPOSE_FILE, 'utf8');
    assert.doesNotMatch(source, /^version\s*:/m);
    assert.ok(Object.keys(services).length > 0);
    const tool = composeTool();
    if (tool) {
      const emptyEnvFile = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-compose-')), 'empty.env');
      writeFileSync(emptyEnvFile, '');
      const run = spawnSync(tool[0], [...tool.slice(1), '--env-file', emptyEnvFile, '-f', COMPOSE_FILE, 'config', '--services'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' },
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, `${tool.join(' ')} config refused the file: ${run.stderr}`);
      assert.deepEqual(run.stdout.trim().split('\n').sort(), resolved.services.slice().sort());
    }
  });

  it('is refused by the schema check where compose would refuse it', () => {
    const broken = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-compose-')), 'docker-compose.yml');
    const source = readFileSync(COMPOSE_FILE, 'utf8');
    writeFileSync(broken, source.replace('condition: service_completed_successfully', 'condition: when_it_feels_like_it'));
    assert.throws(() => resolveCompose(broken), (err: Error) => err instanceof ComposeError && /depends_on/.test(err.message));
    writeFileSync(broken, source.replace('stop_grace_period:', 'stop_grace_periodd:'));
    assert.throws(() => resolveCompose(broken), ComposeError);
    writeFileSync(broken, source.replace('services:', 'services:\n  bad:\n    image: x:1\n    ports: [{target: "not a port"}]'));
    assert.throws(() => resolveCompose(broken), ComposeError);
  });

  it('has the services of a deployment', () => {
    assert.deepEqual(Object.keys(services).sort(), EXPECTED_SERVICES);
    assert.deepEqual(resolved.services.slice().sort(), EXPECTED_SERVICES);
    assert.deepEqual(asList(service('prometheus').profiles), ['metrics'], 'Prometheus is optional');
    const volumes = resolved.volumes.slice().sort();
    assert.deepEqual(volumes, ['azurite-data', 'gateway-data', 'postgresql-data', 'prometheus-data']);
  });

  it('has a worker that can scale: built here, no fixed name, no published port, the shared control plane', () => {
    const worker = service('worker');
    assert.ok(worker.build, 'the worker is built from the Dockerfile');
    assert.equal(worker.container_name, undefined, 'a fixed container name stops --scale');
    assert.equal(worker.ports, undefined, 'a published host port stops --scale');
    const env = environment('worker');
    assert.match(String(env.T2T_DATABASE_URL), /^postgres:\/\/[^@]+@postgresql:5432\/t2t$/, 'workers share the control plane on PostgreSQL');
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.TEMPORAL_NAMESPACE, 'default');
    assert.equal(env.T2T_TASK_QUEUE, 'tenant-migrations');
    assert.equal(worker.stop_signal, 'SIGTERM');
    // One build at a time: `up -d --build` replaces every worker, so the new build must take the
    // new migrations itself (a worker that waited for an operator's switch would get none).
    const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])));
    assert.equal(config.versioning?.deploymentName, 't2t-worker');
    assert.equal(config.versioning?.becomeCurrent, 'always');
    const dependsOn = asMap(worker.depends_on, "the worker's depends_on");
    for (const job of ['temporal-setup', 'control-plane-db']) {
      assert.equal(asMap(dependsOn[job], job).condition, 'service_completed_successfully', `the worker waits for ${job}`);
    }
  });

  it('publishes ports on the loopback interface only', () => {
    const published: string[] = [];
    for (const [name, value] of Object.entries(services)) {
      for (const port of asList(asMap(value, name).ports)) {
        assert.match(port, /^127\.0\.0\.1:\d+:\d+(\/tcp)?$/, `${name} publishes ${port} beyond loopback`);
        published.push(`${name} ${port.replace(/\/tcp$/, '')}`);
      }
    }
    assert.deepEqual(published.sort(), [
      'azurite 127.0.0.1:10000:10000',
      'codec-server 127.0.0.1:8234:8234',
      'gateway 127.0.0.1:8236:8236',
      'postgresql 127.0.0.1:5432:5432',
      'prometheus 127.0.0.1:9090:9090',
      'temporal 127.0.0.1:7233:7233',
      'temporal-ui 127.0.0.1:8080:8080',
    ]);
  });

  it('pins every image it pulls, with one Temporal version for the server and its schema tools', () => {
    for (const [name, value] of Object.entries(services)) {
      // The product's own image, built here (the codec server and the gateway run the worker's).
      if (name === 'worker' || name === 'codec-server' || name === 'gateway') continue;
      const image = String(asMap(value, name).image);
      const tag = /:([^/:]+)$/.exec(image)?.[1];
      assert.ok(tag && tag !== 'latest', `${name} runs ${image}: pin a version`);
    }
    const version = (name: string) => String(service(name).image).split(':').pop();
    assert.equal(version('temporal-schema'), version('temporal'));
    assert.equal(version('temporal-setup'), version('temporal'));
  });

  it('registers every search attribute of the contract with its type, in the one-shot job', () => {
    const setup = service('temporal-setup');
    const script = asList(setup.entrypoint).find((arg) => arg.endsWith('.sh'));
    assert.ok(script, 'temporal-setup runs a script');
    const file = hostPath(asList(setup.volumes), script);
    assert.ok(file && existsSync(file), `${script} is mounted from a file of this repository`);
    const text = readFileSync(file, 'utf8');
    for (const key of ALL_SEARCH_ATTRIBUTES) {
      const type = SEARCH_ATTRIBUTE_TYPE_NAMES[key.type];
      assert.match(text, new RegExp(`\\b${key.name}=${type}\\b`), `${key.name} is registered as ${type}`);
      assert.match(text, new RegExp(`query=.*\\b${key.name}\\b`), `the job waits until ${key.name} can be queried`);
    }
    assert.match(text, /temporal operator search-attribute create/);
    assert.equal(asMap(asMap(setup.depends_on, 'depends_on').temporal, 'temporal').condition, 'service_healthy');
  });

  it('mounts only files that exist, and gives Temporal the dynamic config file it needs to start', () => {
    for (const [name, value] of Object.entries(services)) {
      for (const volume of asList(asMap(value, name).volumes)) {
        const source = volume.split(':')[0];
        if (source.startsWith('/')) assert.ok(existsSync(source), `${name} mounts ${source}, which does not exist`);
      }
      const script = asList(asMap(value, name).entrypoint).find((arg) => arg.endsWith('.sh'));
      if (script) {
        const file = hostPath(asList(asMap(value, name).volumes), script);
        assert.ok(file && existsSync(file), `${name} runs ${script}, which is not mounted from this repository`);
      }
    }
    const temporal = service('temporal');
    const dynamicConfig = String(environment('temporal').DYNAMIC_CONFIG_FILE_PATH);
    const file = hostPath(asList(temporal.volumes), dynamicConfig);
    assert.ok(file && existsSync(file), `DYNAMIC_CONFIG_FILE_PATH ${dynamicConfig} is not mounted from this repository`);
  });

  it('runs Azurite for blobs only, reachable at the endpoint the worker signs SAS URLs for', () => {
    const command = asList(service('azurite').command);
    assert.equal(command[0], 'azurite-blob');
    for (const flag of ['--skipApiVersionCheck', '--disableTelemetry']) assert.ok(command.includes(flag), flag);
    assert.equal(command[command.indexOf('--blobHost') + 1], '0.0.0.0');
    assert.equal(command[command.indexOf('--location') + 1], '/data');
    assert.ok(asList(service('azurite').volumes).some((v) => v.startsWith('azurite-data:/data')), 'blobs live in a volume');
    const endpoint = /BlobEndpoint=([^;]+)/.exec(String(environment('worker').AZURE_STORAGE_CONNECTION_STRING))?.[1];
    assert.ok(endpoint, 'the default connection string names a BlobEndpoint');
    const url = new URL(endpoint);
    assert.equal(url.hostname, 'azurite', 'the endpoint host is the service name (and a hosts-file entry on the admin machine)');
    assert.ok(asList(service('azurite').ports).includes(`127.0.0.1:${url.port}:${url.port}/tcp`), 'the same port on the host');
  });

  it('serves worker metrics where the bundled Prometheus looks for them', () => {
    const address = String(environment('worker').T2T_METRICS_ADDRESS);
    const port = address.split(':').pop();
    assert.equal(address, `0.0.0.0:${port}`);
    assert.deepEqual(asList(service('worker').expose), [port]);
    const prometheusYml = hostPath(asList(service('prometheus').volumes), '/etc/prometheus/prometheus.yml');
    assert.ok(prometheusYml && existsSync(prometheusYml));
    const scrape = readFileSync(prometheusYml, 'utf8');
    assert.match(scrape, /names: \[worker\]/);
    assert.match(scrape, new RegExp(`port: ${port}\\b`));
  });

  it("runs the codec server with the worker's keys, and points the Web UI at it", () => {
    const codec = service('codec-server');
    assert.equal(codec.image, service('worker').image, 'the same image as the worker');
    assert.deepEqual(asList(codec.command), ['node', 'dist/src/codec/serve.js']);
    const env = environment('codec-server');
    assert.equal(env.T2T_CODEC_ADDRESS, ':8234');
    for (const name of ['T2T_PAYLOAD_KEYS', 'T2T_PAYLOAD_ENCRYPTION']) assert.ok(name in env && name in environment('worker'), `${name} reaches both`);
    assert.equal(environment('temporal-ui').TEMPORAL_CODEC_ENDPOINT, 'http://localhost:8234');
    const uiPort = asList(service('temporal-ui').ports)[0].split(':')[1];
    assert.ok(String(env.T2T_CODEC_CORS_ORIGINS).split(',').includes(`http://localhost:${uiPort}`), "CORS admits the Web UI's origin");
    const withKeys = compose({ T2T_PAYLOAD_KEYS: 'k1:abc', T2T_CODEC_PUBLIC_URL: 'https://codec.contoso.com' }).config;
    const services = asMap(withKeys.services, 'services');
    assert.equal(asMap(asMap(services.worker, 'worker').environment, 'env').T2T_PAYLOAD_KEYS, 'k1:abc');
    assert.equal(asMap(asMap(services['temporal-ui'], 'ui').environment, 'env').TEMPORAL_CODEC_ENDPOINT, 'https://codec.contoso.com');
  });

  it("runs the action gateway with the worker's image, Temporal, database and payload keys, and the worker reads its keys there", () => {
    const gateway = service('gateway');
    assert.equal(gateway.image, service('worker').image, 'the same image as the worker');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.deepEqual(asList(gateway.command), pkg.scripts.gateway.trim().split(/\s+/), 'the command of `npm run gateway`');
    assert.ok(existsSync(path.join(ROOT, asList(gateway.command)[1])), 'which the build emits');
    const env = environment('gateway');
    const worker = environment('worker');
    for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'T2T_TASK_QUEUE', 'T2T_DATABASE_URL', 'AZURE_STORAGE_CONNECTION_STRING', 'T2T_PAYLOAD_KEYS', 'T2T_PAYLOAD_ENCRYPTION', 'T2T_APPROVAL_TIMEOUT']) {
      assert.equal(env[name], worker[name], `${name}: as the worker's`);
    }
    // The settings are the product's own: what the gateway's configuration accepts.
    const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) as NodeJS.ProcessEnv);
    const port = config.signIn.gatewayAddress.split(':').pop();
    assert.ok(asList(gateway.ports).some((p) => p.replace(/\/tcp$/, '').endsWith(`:${port}`)), `published on the port it listens on (${port})`);
    assert.equal(worker.T2T_GATEWAY_URL, `http://gateway:${port}`);
    assert.ok(asList(gateway.volumes).some((v) => v.endsWith(':/app/.data')), 'its signing key survives a re-creation');
    const entra = asMap(asMap(asMap(compose({ T2T_AUTH_AUTHORITY: 'https://login.microsoftonline.com/t1/v2.0' }).config.services, 's').gateway, 'gateway').environment, 'env');
    assert.equal(entra.T2T_AUTH_AUTHORITY, 'https://login.microsoftonline.com/t1/v2.0');
  });

  it('takes its settings from the environment', () => {
    const overridden = asMap(
      compose({
        TEMPORAL_VERSION: '1.99.0',
        TEMPORAL_NAMESPACE: 'migrations',
        TEMPORAL_UI_PORT: '8233',
        T2T_DB_PASSWORD: 'secret',
        AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net',
      }).config.services,
      'services',
    );
    const env = (name: string) => asMap(asMap(overridden[name], name).environment, name);
    assert.equal(asMap(overridden.temporal, 'temporal').image, 'temporalio/server:1.99.0');
    assert.equal(env('worker').TEMPORAL_NAMESPACE, 'migrations');
    assert.equal(env('temporal-setup').TEMPORAL_NAMESPACE, 'migrations');
    assert.equal(env('temporal-ui').TEMPORAL_DEFAULT_NAMESPACE, 'migrations');
    assert.deepEqual(asList(asMap(overridden['temporal-ui'], 'ui').ports), ['127.0.0.1:8233:8080/tcp']);
    assert.match(String(env('worker').T2T_DATABASE_URL), /^postgres:\/\/t2t:secret@postgresql:5432\/t2t$/);
    assert.equal(env('control-plane-db').T2T_DB_PASSWORD, 'secret');
    assert.match(String(env('worker').AZURE_STORAGE_CONNECTION_STRING), /AccountName=acct;/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('runs the entry point of `npm run worker`, which the build emits', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const script = pkg.scripts.worker.trim().split(/\s+/);
    const cmd = instructions.filter((l) => l.startsWith('CMD '));
    assert.equal(cmd.length, 1, 'one CMD');
    assert.deepEqual(JSON.parse(cmd[0].slice(4)) as string[], script, 'CMD is `npm run worker` without npm');
    assert.deepEqual(script, ['node', 'dist/src/worker.js']);
    assert.ok(existsSync(path.join(ROOT, script[1])), `tsc emits ${script[1]} (the build the Dockerfile runs)`);
  });

  it('builds in one stage and runs as the node user in another, without the Temporal binaries', () => {
    const from = instructions.filter((l) => l.startsWith('FROM '));
    assert.equal(from.length, 2, 'multi-stage');
    for (const line of from) assert.match(line, /^FROM node:20-bookworm-slim\b/);
    assert.ok(instructions.includes('ENV T2T_SKIP_TEMPORAL_BINARIES=1'));
    const runs = instructions.filter((l) => l.startsWith('RUN ')).join('\n');
    assert.match(runs, /python3 make g\+\+/, 'better-sqlite3 may compile');
    assert.match(runs, /npm ci\b/);
    assert.match(runs, /npm run build\b/);
    assert.match(runs, /npm prune --omit=dev\b/);
    const runtime = instructions.slice(instructions.lastIndexOf(from[1]));
    assert.ok(runtime.includes('USER node'), 'not root');
    assert.ok(runtime.includes('STOPSIGNAL SIGTERM'));
  });

  it('copies nothing that .dockerignore leaves out of the build context', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.data', '.tools', '.git', 'test-artifacts']) {
      assert.ok(ignored.includes(entry), `.dockerignore leaves out ${entry}`);
    }
    const sources = instructions
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1).filter((arg) => !arg.startsWith('--')));
    for (const source of sources) {
      assert.ok(existsSync(path.join(ROOT, source)), `COPY ${source}: no such file`);
      assert.ok(!ignored.includes(source), `COPY ${source}, which .dockerignore leaves out`);
    }
  });
});
