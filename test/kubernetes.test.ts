// The Kubernetes manifests of deploy/kubernetes/: every one parses and passes
// the Kubernetes API's schema (kubernetes-models), and they agree with what the
// worker does: probes on the health server's routes and configured port, a
// termination grace above the worker's shutdown grace, selectors that select the
// worker's pods, only settings the worker reads, memory from the benchmark, and
// one Deployment per Worker Deployment build (a new build never replaces the
// pods that migrations pinned to the old one run on).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { projectRoot } from '../src/temporal-binaries';
import { loadConfig } from '../src/config';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { parseHealthAddress, startHealthServer, READINESS_PATH, LIVENESS_PATH, type WorkerHealthState } from '../src/worker-health';

const ROOT = projectRoot();
const K8S = path.join(ROOT, 'deploy', 'kubernetes');

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MODELS: Record<string, { new (data: any): { validate(): void } }> = { // eslint-disable-line @typescript-eslint/no-explicit-any
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(name) ? [full] : [];
  });
}

function parseFile(file: string): Doc[] {
  return parseText(readFileSync(file, 'utf8'), path.relative(ROOT, file));
}

function parseText(text: string, where: string): Doc[] {
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors.map(String), [], `${where} parses`);
    assert.deepEqual(doc.warnings.map(String), [], `${where} parses without warnings`);
    return doc.toJS() as Doc;
  });
}

/** The Kubernetes API's schema for the document's kind; throws what it rejects. */
function validate(doc: Doc): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  assert.ok(Model, `a schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

const isKustomization = (file: string) => path.basename(file) === 'kustomization.yaml';

function one(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0];
}

/** Every environment variable name that the worker's configuration or its Temporal connection reads. */
function namesTheWorkerReads(): Set<string> {
  const sources = ['src/config.ts', 'src/temporal-connection.ts', 'src/microsoft/settings.ts'].map((f) => readFileSync(path.join(ROOT, f), 'utf8'));
  return new Set(sources.flatMap((text) => text.match(/\b(?:T2T|TEMPORAL|AZURE)_[A-Z0-9_]+\b/g) ?? []));
}

/** The worker's manifests, with an overlay's ConfigMap patch merged in (what kustomize renders, for these files). */
interface WorkerSet {
  deployment: Doc;
  configMap: Doc;
  secret: Doc;
  pdb: Doc;
  service: Doc;
  /** the image tag the worker kustomization sets */
  imageTag: string;
}

function workerSet(overlay?: string): WorkerSet {
  const docs = yamlFiles(path.join(K8S, 'worker')).filter((f) => !isKustomization(f)).flatMap(parseFile);
  const configMap = structuredClone(one(docs, 'ConfigMap', 't2t-worker'));
  if (overlay) {
    for (const patch of parseFile(path.join(K8S, overlay))) {
      assert.equal(patch.kind, 'ConfigMap', 'the overlay patches the ConfigMap');
      Object.assign(configMap.data, patch.data);
    }
  }
  return {
    deployment: one(docs, 'Deployment'),
    configMap,
    secret: one(parseFile(path.join(K8S, 'secret.example.yaml')), 'Secret', 't2t-worker'),
    pdb: one(docs, 'PodDisruptionBudget'),
    service: one(docs, 'Service'),
    imageTag: (parseFile(path.join(K8S, 'worker', 'kustomization.yaml'))[0].images as Doc[]).find((i) => i.name === 't2t-worker')?.newTag,
  };
}

function container(set: WorkerSet): Doc {
  const containers = set.deployment.spec.template.spec.containers as Doc[];
  assert.equal(containers.length, 1);
  return containers[0];
}

function containerPort(set: WorkerSet, port: string | number): number {
  if (typeof port === 'number') return port;
  const named = (container(set).ports as Doc[]).find((p) => p.name === port);
  assert.ok(named, `a container port named ${port}`);
  return named.containerPort as number;
}

/** The worker's environment in the pod: the ConfigMap, the Secret, and the container's own entries. */
function podEnvironment(set: WorkerSet): Record<string, string> {
  const c = container(set);
  const refs = (c.envFrom as Doc[]).map((e) => e.configMapRef?.name ?? e.secretRef?.name);
  assert.deepEqual(refs, [set.configMap.metadata.name, set.secret.metadata.name], 'env from the ConfigMap and the Secret');
  const own = Object.fromEntries(((c.env as Doc[] | undefined) ?? []).map((e) => [e.name, e.value]));
  return { ...set.configMap.data, ...set.secret.stringData, ...own };
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(match, `a memory quantity: ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

/** What is wrong between the worker's manifests and the worker; empty when they agree. */
function problems(set: WorkerSet): string[] {
  const found: string[] = [];
  const expect = (ok: boolean, problem: string) => ok || found.push(problem);
  const pod = set.deployment.spec.template;
  const c = container(set);
  const env = podEnvironment(set);

  const read = namesTheWorkerReads();
  for (const name of Object.keys(env)) expect(read.has(name), `${name} is set but the worker does not read it`);
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    found.push(`the worker refuses the manifests' settings: ${(err as Error).message}`);
    return found;
  }

  expect(matches(set.deployment.spec.selector.matchLabels, pod.metadata.labels), 'the Deployment selects its own pods');

  // Worker Versioning: the Deployment runs one build, named the same everywhere, so that a new
  // build comes as a Deployment of its own beside it instead of rolling over its pods.
  const buildId = config.versioning?.buildId;
  expect(config.versioning !== undefined, 'the worker declares a Worker Deployment version (T2T_WORKER_VERSIONING on)');
  expect(buildId !== undefined, "T2T_BUILD_ID is set: the build id is the Deployment's, not a default derived inside the image");
  if (buildId !== undefined) {
    expect(set.deployment.metadata.name === `t2t-worker-${buildId}`, `the Deployment is named for its build (t2t-worker-${buildId}, not ${set.deployment.metadata.name})`);
    expect(set.deployment.spec.selector.matchLabels['app.kubernetes.io/version'] === buildId, 'the Deployment selects the pods of its build only');
    expect(pod.metadata.labels['app.kubernetes.io/version'] === buildId, "the pods carry their build's label");
    expect(set.imageTag === buildId, `the image tag (${set.imageTag}) is the build id (${buildId}): new code means a new build id and a new Deployment`);
  }
  expect(matches(set.pdb.spec.selector.matchLabels, { ...pod.metadata.labels, 'app.kubernetes.io/version': 'another' }), "the PodDisruptionBudget covers every build's workers");
  expect(matches(set.pdb.spec.selector.matchLabels, pod.metadata.labels), "the PodDisruptionBudget's selector matches the worker's pods");
  expect(matches(set.service.spec.selector, pod.metadata.labels), "the metrics Service's selector matches the worker's pods");
  expect(set.deployment.spec.replicas > (set.pdb.spec.maxUnavailable ?? 0), 'the budget leaves a worker polling during a drain');

  expect(config.healthAddress !== undefined, 'T2T_HEALTH_ADDRESS is set: the probes need it');
  if (config.healthAddress) {
    const { host, port } = parseHealthAddress(config.healthAddress);
    expect(host === undefined || host === '0.0.0.0', `the health server listens where the kubelet reaches it, not on ${host}`);
    for (const [probe, route] of [['readinessProbe', READINESS_PATH], ['livenessProbe', LIVENESS_PATH]] as const) {
      const get = c[probe]?.httpGet as Doc | undefined;
      expect(get?.path === route, `${probe} asks ${route} (it asks ${get?.path})`);
      expect(get !== undefined && containerPort(set, get.port) === port, `${probe} asks the port of T2T_HEALTH_ADDRESS (${port})`);
    }
  }
  expect(config.metricsAddress !== undefined, 'T2T_METRICS_ADDRESS is set');
  if (config.metricsAddress) {
    const port = Number(config.metricsAddress.split(':')[1]);
    expect(containerPort(set, 'metrics') === port, 'the metrics container port is that of T2T_METRICS_ADDRESS');
    expect(containerPort(set, set.service.spec.ports[0].targetPort) === port, "the Service's target is the metrics port");
    expect(pod.metadata.annotations?.['prometheus.io/port'] === String(port), "the pod's scrape annotation names the metrics port");
    expect(set.service.metadata.annotations?.['prometheus.io/port'] === String(port), "the Service's scrape annotation names the metrics port");
  }

  // The worker's own grace, then the SDK's shutdown and the process's exit, before Kubernetes kills it.
  expect(pod.spec.terminationGracePeriodSeconds * 1000 >= config.shutdownGraceMs + 10_000, `terminationGracePeriodSeconds (${pod.spec.terminationGracePeriodSeconds}) is at least 10 s above T2T_SHUTDOWN_GRACE (${config.shutdownGraceMs / 1000} s)`);
  expect(c.command === undefined && c.args === undefined, "the image's own entry point runs (node dist/src/worker.js, which drains on SIGTERM)");

  expect(pod.spec.securityContext?.runAsNonRoot === true && pod.spec.securityContext?.runAsUser > 0, 'runs as a numeric non-root user');
  expect(c.securityContext?.readOnlyRootFilesystem === true, 'read-only root file system');
  expect(c.securityContext?.allowPrivilegeEscalation === false, 'no privilege escalation');
  expect(((c.volumeMounts as Doc[]) ?? []).some((m) => m.mountPath === '/tmp'), 'a writable /tmp');
  return found;
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  const files = yamlFiles(K8S);

  it('every manifest parses and passes the Kubernetes schema', () => {
    const manifests = files.filter((f) => !isKustomization(f));
    assert.ok(manifests.length >= 8, `the manifests are there (${manifests.length})`);
    const kinds = new Set<string>();
    for (const file of manifests) {
      for (const doc of parseFile(file)) {
        assert.doesNotThrow(() => validate(doc), `${path.relative(ROOT, file)}: ${doc.kind} ${doc.metadata?.name}`);
        kinds.add(doc.kind as string);
      }
    }
    assert.deepEqual([...kinds].sort(), ['ConfigMap', 'Deployment', 'Job', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
  });

  it('the schema rejects a broken manifest: a string where an integer goes', () => {
    const text = readFileSync(path.join(K8S, 'worker', 'deployment.yaml'), 'utf8');
    assert.doesNotThrow(() => validate(parseText(text, 'deployment')[0]));
    const replicas = text.replace(/^ {2}replicas: 2$/m, '  replicas: "2"');
    assert.notEqual(replicas, text);
    assert.throws(() => validate(parseText(replicas, 'deployment')[0]), /spec\/replicas must be integer/);
    const grace = text.replace(/terminationGracePeriodSeconds: \d+/, 'terminationGracePeriodSeconds: 60s');
    assert.throws(() => validate(parseText(grace, 'deployment')[0]), /terminationGracePeriodSeconds must be integer/);
    const pdb = parseFile(path.join(K8S, 'worker', 'poddisruptionbudget.yaml'))[0];
    assert.throws(() => validate({ ...pdb, spec: { ...pdb.spec, unhealthyPodEvictionPolicy: 'Sometimes' } }), /must be equal to one of the allowed values/);
  });

  it('each kustomization names files that exist, and every manifest is in one (except the example Secret)', () => {
    const listed = new Set<string>();
    for (const file of files.filter(isKustomization)) {
      const dir = path.dirname(file);
      const [k] = parseFile(file);
      assert.equal(k.kind, 'Kustomization');
      for (const resource of (k.resources ?? []) as string[]) {
        const target = path.resolve(dir, resource);
        assert.ok(existsSync(target), `${path.relative(ROOT, file)}: ${resource} exists`);
        if (statSync(target).isDirectory()) assert.ok(existsSync(path.join(target, 'kustomization.yaml')), `${resource} is a kustomization`);
        else listed.add(target);
      }
      for (const patch of (k.patches ?? []) as Doc[]) {
        assert.ok(existsSync(path.resolve(dir, patch.path)), `${patch.path} exists`);
        listed.add(path.resolve(dir, patch.path));
      }
      for (const generator of (k.configMapGenerator ?? []) as Doc[]) {
        for (const source of generator.files as string[]) {
          const target = path.resolve(dir, source.split('=').pop()!);
          assert.ok(existsSync(target), `${source} exists`);
        }
      }
    }
    const unlisted = files.filter((f) => !isKustomization(f) && !listed.has(f)).map((f) => path.relative(K8S, f));
    assert.deepEqual(unlisted, ['secret.example.yaml']);
  });

  it('the example Secret holds placeholders only', () => {
    const secret = one(parseFile(path.join(K8S, 'secret.example.yaml')), 'Secret');
    assert.equal(secret.type, 'Opaque');
    assert.ok(Object.keys(secret.stringData).length >= 2);
    for (const [name, value] of Object.entries(secret.stringData as Record<string, string>)) {
      assert.match(value, /<[a-z-]+>/, `${name} is a placeholder`);
    }
    assert.equal(secret.data, undefined, 'no encoded values');
  });

  it('the worker manifests agree with the worker: settings, probes, grace, selectors, ports, security', () => {
    assert.deepEqual(problems(workerSet()), []);
    assert.deepEqual(problems(workerSet('temporal-cloud/temporal-cloud.yaml')), []);
    const set = workerSet();
    assert.match(set.configMap.data.TEMPORAL_ADDRESS, /^[a-z0-9-]+-frontend\.[a-z0-9-]+\.svc:7233$/, "the Helm chart's frontend Service");
  });

  it('finds what would be wrong: the checks above can fail', () => {
    const broken = (change: (set: WorkerSet) => void) => {
      const set = structuredClone(workerSet());
      change(set);
      return problems(set);
    };
    assert.match(broken((s) => (container(s).readinessProbe.httpGet.path = '/healthz')).join('\n'), /readinessProbe asks \/readyz/);
    assert.match(broken((s) => (container(s).livenessProbe.httpGet.port = 9464)).join('\n'), /livenessProbe asks the port of T2T_HEALTH_ADDRESS/);
    assert.match(broken((s) => (s.configMap.data.T2T_HEALTH_ADDRESS = '127.0.0.1:8080')).join('\n'), /not on 127\.0\.0\.1/);
    assert.match(broken((s) => (s.configMap.data.T2T_SHUTDOWN_GRACE = '55s')).join('\n'), /terminationGracePeriodSeconds \(60\) is at least 10 s above T2T_SHUTDOWN_GRACE \(55 s\)/);
    assert.match(broken((s) => (s.pdb.spec.selector.matchLabels = { 'app.kubernetes.io/name': 'other' })).join('\n'), /PodDisruptionBudget's selector/);
    assert.match(broken((s) => (s.configMap.data.T2T_SHUTDOWN_GRACE_PERIOD = '30s')).join('\n'), /T2T_SHUTDOWN_GRACE_PERIOD is set but the worker does not read it/);
    assert.match(broken((s) => (s.configMap.data.T2T_SHUTDOWN_GRACE = 'thirty seconds')).join('\n'), /refuses the manifests' settings: configuration: T2T_SHUTDOWN_GRACE/);
    assert.match(broken((s) => (container(s).securityContext.readOnlyRootFilesystem = false)).join('\n'), /read-only root file system/);
    // A new image rolled over the old build's pods, or a build id left to the image's default.
    assert.match(broken((s) => (s.imageTag = '0.2.0')).join('\n'), /the image tag \(0\.2\.0\) is the build id/);
    assert.match(broken((s) => (container(s).env = [])).join('\n'), /T2T_BUILD_ID is set/);
    assert.match(broken((s) => (container(s).env[0].value = '0.2.0')).join('\n'), /the Deployment is named for its build/);
    assert.match(broken((s) => (s.configMap.data.T2T_WORKER_VERSIONING = 'off')).join('\n'), /declares a Worker Deployment version/);
  });

  it('the probe paths are answered by the health server as the probes expect', async () => {
    const c = container(workerSet());
    let state: WorkerHealthState = 'RUNNING';
    const server = await startHealthServer('127.0.0.1:0', () => state);
    try {
      const status = async (probe: string) => (await fetch(`http://${server.address}${c[probe].httpGet.path}`)).status;
      assert.deepEqual([await status('readinessProbe'), await status('livenessProbe')], [200, 200]);
      state = 'DRAINING';
      assert.deepEqual([await status('readinessProbe'), await status('livenessProbe')], [503, 200]);
    } finally {
      await server.close();
    }
  });

  it("the Temporal Cloud overlay's settings are what the connection reads: mTLS from the mounted Secret, or an API key", () => {
    const set = workerSet('temporal-cloud/temporal-cloud.yaml');
    const env = podEnvironment(set);
    assert.match(env.TEMPORAL_ADDRESS, /\.tmprl\.cloud:7233$/);
    const mount = (container(set).volumeMounts as Doc[]).find((m) => m.name === 'temporal-tls');
    const volume = (set.deployment.spec.template.spec.volumes as Doc[]).find((v) => v.name === 'temporal-tls');
    assert.ok(mount && volume?.secret?.optional === true, 'the TLS Secret is mounted when it exists');
    for (const name of ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH']) {
      assert.equal(path.dirname(env[name]), mount.mountPath, `${name} is a file of the mounted Secret`);
    }
    // The same names, pointed at files of a kubernetes.io/tls Secret's shape, give the connection its client certificate.
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-k8s-tls-'));
    writeFileSync(path.join(dir, 'tls.crt'), 'certificate');
    writeFileSync(path.join(dir, 'tls.key'), 'key');
    const local = { ...env, TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, path.basename(env.TEMPORAL_TLS_CLIENT_CERT_PATH)), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, path.basename(env.TEMPORAL_TLS_CLIENT_KEY_PATH)) };
    const mtls = temporalConnectionOptions(loadConfig(local), local);
    assert.equal(mtls.address, env.TEMPORAL_ADDRESS);
    assert.ok(mtls.tls, 'TLS on');
    assert.equal(Buffer.from(mtls.tls.clientCertPair!.crt).toString(), 'certificate');
    // With an API key instead: TEMPORAL_API_KEY in the Secret (the example names it) and no certificate paths.
    assert.match(readFileSync(path.join(K8S, 'secret.example.yaml'), 'utf8'), /^ {2}# TEMPORAL_API_KEY: <api-key>$/m);
    const withKey: Record<string, string> = { ...env, TEMPORAL_API_KEY: 'key' };
    delete withKey.TEMPORAL_TLS_CLIENT_CERT_PATH;
    delete withKey.TEMPORAL_TLS_CLIENT_KEY_PATH;
    const apiKey = temporalConnectionOptions(loadConfig(withKey), withKey);
    assert.equal(apiKey.apiKey, 'key');
    assert.deepEqual(apiKey.metadata, { 'temporal-namespace': env.TEMPORAL_NAMESPACE });
    assert.ok(apiKey.tls, 'TLS on');
  });

  it('the codec server runs the worker\'s image with the payload keys of the worker\'s Secret, on the port its Service and probe name', async () => {
    const docs = yamlFiles(path.join(K8S, 'codec-server')).filter((f) => !isKustomization(f)).flatMap(parseFile);
    const deployment = one(docs, 'Deployment', 't2t-codec-server');
    const service = one(docs, 'Service', 't2t-codec-server');
    const [c] = deployment.spec.template.spec.containers as Doc[];
    assert.equal(c.image, container(workerSet()).image, "the worker's image");
    assert.deepEqual(c.command, ['node', 'dist/src/codec/serve.js']);
    assert.ok(existsSync(path.join(ROOT, 'src', 'codec', 'serve.ts')), 'the entry point exists');
    const env: Record<string, Doc> = Object.fromEntries((c.env as Doc[]).map((e) => [e.name, e]));
    assert.equal(env.T2T_PAYLOAD_KEYS.valueFrom.secretKeyRef.name, 't2t-worker');
    assert.ok('T2T_PAYLOAD_KEYS' in workerSet().secret.stringData, 'the example Secret has the keys the worker and the codec server read');
    const port = Number(String(env.T2T_CODEC_ADDRESS.value).split(':').pop());
    assert.equal((c.ports as Doc[])[0].containerPort, port);
    assert.equal(c.readinessProbe.httpGet.port, (c.ports as Doc[])[0].name);
    assert.equal(service.spec.ports[0].targetPort, (c.ports as Doc[])[0].name);
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    const plain = Object.fromEntries(Object.entries(env).filter(([, e]) => e.value !== undefined).map(([name, e]) => [name, String(e.value)]));
    const config = loadConfig(plain);
    assert.deepEqual(config.codecServer.corsOrigins, ['https://temporal-ui.example.com']);
    new Deployment(deployment).validate();
    new Service(service).validate();
  });

  it("the action gateway runs the worker's image with the worker's settings and its own, on the port its Service and probe name; the workers read its keys through that Service", () => {
    const docs = yamlFiles(path.join(K8S, 'gateway')).filter((f) => !isKustomization(f)).flatMap(parseFile);
    const deployment = one(docs, 'Deployment', 't2t-gateway');
    const service = one(docs, 'Service', 't2t-gateway');
    const configMap = one(docs, 'ConfigMap', 't2t-gateway');
    const [c] = deployment.spec.template.spec.containers as Doc[];
    const workers = workerSet();
    assert.equal(c.image, container(workers).image, "the worker's image");
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.deepEqual(c.command, pkg.scripts.gateway.trim().split(/\s+/), 'the command of `npm run gateway`');
    const refs = (c.envFrom as Doc[]).map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    assert.deepEqual(refs, ['t2t-worker', 't2t-worker', 't2t-gateway']);
    const env: Record<string, string> = { ...workers.configMap.data, ...workers.secret.stringData, ...configMap.data };
    const read = namesTheWorkerReads();
    for (const name of Object.keys(configMap.data as Record<string, string>)) assert.ok(read.has(name), `${name} is a setting the product reads`);
    const config = loadConfig({ ...env, T2T_PAYLOAD_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` });
    assert.equal(config.signIn.sandbox, false, 'tokens from the configured issuer, not the sandbox provider');
    const port = Number(config.signIn.gatewayAddress.split(':').pop());
    const containerPort = (c.ports as Doc[])[0];
    assert.equal(containerPort.containerPort, port);
    assert.equal(c.readinessProbe.httpGet.port, containerPort.name);
    assert.equal(c.readinessProbe.httpGet.path, '/healthz');
    assert.equal(service.spec.ports[0].targetPort, containerPort.name);
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    const keyFile = String(config.signIn.gatewayKeyFile);
    const mount = (c.volumeMounts as Doc[]).find((m) => keyFile.startsWith(`${m.mountPath}/`));
    assert.ok(mount, 'the signing key file is on a mounted volume');
    const volume = (deployment.spec.template.spec.volumes as Doc[]).find((v) => v.name === mount.name);
    assert.equal(volume?.secret?.secretName, 't2t-gateway');
    assert.equal(loadConfig({ ...workers.configMap.data }).signIn.gatewayUrl, `http://${service.metadata.name}:${service.spec.ports[0].port}`);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    new Deployment(deployment).validate();
    new Service(service).validate();
  });

  it("the memory request covers the benchmark's highest worker peak RSS (docs/benchmarks.md), the limit more", () => {
    const figures = readFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), 'utf8');
    const start = figures.indexOf('$ npm run bench:throughput');
    const table = figures.slice(start, figures.indexOf('```', start));
    const peaks = [...table.matchAll(/^ *(\d+) \|.*\| (\d+) MB$/gm)].map((m) => ({ n: Number(m[1]), mb: Number(m[2]) }));
    assert.ok(peaks.length >= 3, "the throughput table with the worker's peak RSS per N");
    const highest = Math.max(...peaks.map((p) => p.mb));
    const { resources } = container(workerSet());
    assert.ok(bytes(resources.requests.memory) >= highest * 1e6, `request ${resources.requests.memory} ≥ ${highest} MB`);
    assert.ok(bytes(resources.limits.memory) > bytes(resources.requests.memory), 'limit above the request');
    const deployment = readFileSync(path.join(K8S, 'worker', 'deployment.yaml'), 'utf8');
    assert.ok(deployment.includes(`${highest} MB`), 'the comment names the figure used');
  });

  it("the search-attribute Job runs deploy/temporal's own script, with settings the script reads", () => {
    const dir = path.join(K8S, 'search-attributes');
    const [kustomization] = parseFile(path.join(dir, 'kustomization.yaml'));
    const generators = kustomization.configMapGenerator as Doc[];
    assert.equal(generators.length, 1);
    const generator = generators[0];
    const [key, source] = (generator.files as string[])[0].split('=');
    assert.equal(path.resolve(dir, source), path.join(ROOT, 'deploy', 'temporal', 'register-search-attributes.sh'));
    const script = readFileSync(path.resolve(dir, source), 'utf8');

    const job = one(parseFile(path.join(dir, 'job.yaml')), 'Job');
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    assert.match(c.image, /^temporalio\/admin-tools:\d+\.\d+\.\d+$/, 'a pinned admin-tools image (it has the temporal CLI)');
    const volume = (pod.volumes as Doc[]).find((v) => v.configMap?.name === generator.name);
    assert.ok(volume, 'the generated ConfigMap is mounted');
    const mount = (c.volumeMounts as Doc[]).find((m) => m.name === volume.name);
    assert.ok(mount);
    assert.deepEqual(c.command, ['/bin/sh', `${mount.mountPath}/${key}`]);

    const worker = workerSet();
    for (const e of c.env as Doc[]) {
      assert.ok(script.includes(`\${${e.name}`) || script.includes(`$${e.name}`), `the script reads ${e.name}`);
      const ref = e.valueFrom?.configMapKeyRef;
      if (ref) {
        assert.equal(ref.name, worker.configMap.metadata.name);
        assert.ok(ref.key in worker.configMap.data, `${ref.key} is in the worker's ConfigMap`);
      }
    }
    assert.equal(pod.restartPolicy, 'Never');
  });
});
