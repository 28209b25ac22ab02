// npm run bench:cli [-- --runs 10]
// How fast `t2t` answers next to Temporal's own CLI doing the same work, against
// one embedded stack (`npm start`'s: dev server, Azurite, worker) started for the
// run: each command runs `--runs` times as a new process, as a person or a script
// runs it, in turn with the `temporal` command that does the same work (so that
// the machine's load weighs on both alike), and the median wall time and peak
// memory (max RSS) are printed beside it, with the ratio; and the CPU
// time each used (user + system, from GNU time), which a busy machine inflates
// less than the wall time.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot, resolveTemporalBinary } from '../src/temporal-binaries';
import { migrationWorkflowId } from '../src/contracts';
import { freePort } from '../test/helpers/ports';
import { DEV_ACCOUNT, DEV_KEY } from '../test/helpers/azurite';
import { makeTestWorld } from '../test/helpers/world';
import { numberArg } from './lib/run';

const RUNS = numberArg('runs', 10);
const ROOT = projectRoot();
const CLI = path.join(ROOT, 'dist', 'src', 'client', 'cli.js');
/** GNU time reports a child's peak RSS; without it the peak is sampled from /proc. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Sample {
  ms: number;
  /** user + system CPU time; NaN without GNU time */
  cpuMs: number;
  maxRssMb: number;
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const [file, argv] = GNU_TIME ? [GNU_TIME, ['-f', 'maxrss=%M cpu=%U+%S', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, argv, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let sampledKb = 0;
    const sampler = GNU_TIME ? undefined : setInterval(() => (sampledKb = Math.max(sampledKb, rssKb(child))), 2);
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      if (sampler) clearInterval(sampler);
      const match = /maxrss=(\d+) cpu=([\d.]+)\+([\d.]+)\s*$/.exec(stderr);
      if (match) stderr = stderr.slice(0, match.index);
      const cpuMs = match ? (Number(match[2]) + Number(match[3])) * 1000 : NaN;
      resolve({ ms, cpuMs, maxRssMb: Number(match?.[1] ?? sampledKb) / 1024, code: code ?? 1, stdout, stderr });
    });
  });
}

function rssKb(child: ChildProcess): number {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

interface Series {
  label: string;
  ms: number;
  cpuMs: number;
  mb: number;
}

/**
 * Runs t2t's command and the baseline RUNS times each, one after the other in turn, so that the
 * machine's load at any moment weighs on both alike; every run must succeed.
 */
async function pairOfSeries(
  ours: [string, (i: number) => [string, string[]]],
  theirs: [string, (i: number) => [string, string[]]],
  env: NodeJS.ProcessEnv,
): Promise<[Series, Series]> {
  const samples: [Sample[], Sample[]] = [[], []];
  for (let i = 0; i < RUNS; i += 1) {
    for (const [k, [label, make]] of [ours, theirs].entries()) {
      const [command, args] = make(i);
      const sample = await run(command, args, env);
      if (sample.code !== 0) throw new Error(`${label}: exit ${sample.code}: ${sample.stderr.trim() || sample.stdout.trim()}`);
      samples[k].push(sample);
    }
  }
  const summary = (label: string, of: Sample[]): Series => ({ label, ms: median(of.map((s) => s.ms)), cpuMs: median(of.map((s) => s.cpuMs)), mb: median(of.map((s) => s.maxRssMb)) });
  return [summary(ours[0], samples[0]), summary(theirs[0], samples[1])];
}

async function startStack(env: NodeJS.ProcessEnv, cwd: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'stack.js')], { env, cwd });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the stack exited with ${code}:\n${output}`)));
    const check = setInterval(() => {
      if (output.includes('Press Ctrl-C to stop.')) {
        clearInterval(check);
        child.removeAllListeners('exit');
        resolve();
      }
    }, 100);
  });
  return child;
}

async function main(): Promise<void> {
  const temporal = resolveTemporalBinary('temporal');
  if (!temporal) throw new Error('the temporal CLI was not found (npm install puts it in .tools/bin)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bench-cli-'));
  const [temporalPort, uiPort, blobPort, identityPort, gatewayPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const address = `127.0.0.1:${temporalPort}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    T2T_DATA_DIR: path.join(dir, 'data'),
    // Payloads in clear: the temporal CLI reads encrypted ones only through a codec endpoint, and
    // the comparison is of the two clients' own work (t2t's codec is AES-GCM in node:crypto).
    T2T_PAYLOAD_ENCRYPTION: 'off',
    // The worker takes raw actions too (the raw-signal design), so that `temporal workflow update execute`
    // and `t2t` with T2T_AUTH=off send them straight to Temporal; `t2t` with sign-in on (the default) is
    // measured beside it through the stack's gateway (signedEnv below).
    T2T_AUTH: 'off',
    T2T_IDENTITY_PORT: String(identityPort),
    T2T_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`,
    // The admin's sign-in stays in the run's folder, never in the home folder's cache.
    T2T_TOKEN_CACHE: path.join(dir, 'token-cache.json'),
    TEMPORAL_ADDRESS: address,
    T2T_UI_PORT: String(uiPort),
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${blobPort}/${DEV_ACCOUNT};`,
  };
  const stack = await startStack(env, dir);
  try {
    // One migration per approve, for t2t's runs and for temporal's: each approves its own.
    const world = makeTestWorld({ environments: 4 * RUNS + 2 });
    writeFileSync(path.join(dir, 'world.json'), JSON.stringify(world.world));
    const t2t = (args: string[]): [string, string[]] => [process.execPath, [CLI, ...args]];
    const must = async (args: string[]) => {
      const sample = await run(...t2t(args), env);
      if (sample.code !== 0) throw new Error(`t2t ${args.join(' ')}: ${sample.stderr.trim()}`);
      return sample.stdout;
    };
    await must(['world', 'load', path.join(dir, 'world.json')]);
    const migrations: { environmentId: string; migrationId: string; targetMigrationId: string }[] = [];
    for (const environmentId of world.environmentIds) {
      const submitted = JSON.parse(await must(['--json', '--as', world.sourceAdmin, 'submit', '--environment', environmentId, '--target-tenant', world.target])) as { migrationId: string; targetMigrationId: string };
      migrations.push({ environmentId, ...submitted });
    }
    const [watched, warmUp, ...toApprove] = migrations;
    const tctl = (args: string[]): [string, string[]] => [temporal, [...args, '--address', address, '--namespace', 'default']];
    const workflowId = migrationWorkflowId(watched.environmentId);

    console.log(`t2t beside the temporal CLI, median of ${RUNS} runs each, one embedded stack; Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
    console.log('  actions with T2T_AUTH=off (straight to Temporal, as update execute), then with sign-in on (through the gateway, beside a signed update execute)');
    const pairs: [string, Series, Series][] = [];
    const pair = async (name: string, ours: [string, (i: number) => [string, string[]]], theirs: [string, (i: number) => [string, string[]]]) =>
      pairs.push([name, ...(await pairOfSeries(ours, theirs, env))]);
    await pair('help', ['t2t --help', () => t2t(['--help'])], ['node -e 0 (Node starting, nothing loaded)', () => [process.execPath, ['-e', '0']]]);
    await pair(
      'status',
      ['t2t status', () => t2t(['status', '--migration-id', watched.migrationId])],
      ['temporal workflow query --type status', () => tctl(['workflow', 'query', '--workflow-id', workflowId, '--type', 'status'])],
    );
    await pair(
      'status',
      ['t2t status --json', () => t2t(['--json', 'status', '--migration-id', watched.migrationId])],
      ['temporal workflow describe', () => tctl(['workflow', 'describe', '--workflow-id', workflowId])],
    );
    const tenantQuery = `WorkflowType = 'tenantMigration' AND T2TSourceTenantId IN ('${world.source}')`;
    await pair('requests', ['t2t requests', () => t2t(['--as', world.sourceAdmin, 'requests'])], ['temporal workflow list --query', () => tctl(['workflow', 'list', '--query', tenantQuery])]);
    await pair(
      'approve',
      ['t2t approve', (i) => t2t(['--as', world.targetAdmin, 'approve', '--migration-id', toApprove[i].targetMigrationId])],
      [
        'temporal workflow update execute --name approve',
        (i) => tctl(['workflow', 'update', 'execute', '--workflow-id', migrationWorkflowId(toApprove[RUNS + i].environmentId), '--name', 'approve', '--input', JSON.stringify({ actor: world.targetAdmin })]),
      ],
    );
    // Sign-in on: t2t sends the action to the stack's gateway with the signed-in admin's token, and the
    // gateway sends it on with its proof; the baseline sends a payload the gateway signed beforehand
    // (`t2t sign approve`, outside the timing), as any Temporal client does with sign-in on.
    const signedEnv = { ...env, T2T_AUTH: 'on' };
    const signedIn = await run(...t2t(['--as', world.targetAdmin, 'approve', '--migration-id', warmUp.targetMigrationId]), signedEnv);
    if (signedIn.code !== 0) throw new Error(`t2t approve with sign-in on: ${signedIn.stderr.trim()}`);
    const signedPayloads: string[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      const signed = await run(...t2t(['sign', 'approve', '--migration-id', toApprove[3 * RUNS + i].targetMigrationId]), signedEnv);
      if (signed.code !== 0) throw new Error(`t2t sign approve: ${signed.stderr.trim()}`);
      signedPayloads.push(signed.stdout.trim());
    }
    pairs.push([
      'approve',
      ...(await pairOfSeries(
        ['t2t approve, sign-in on (through the gateway)', (i) => t2t(['--as', world.targetAdmin, 'approve', '--migration-id', toApprove[2 * RUNS + i].targetMigrationId])],
        [
          'temporal workflow update execute, signed payload',
          (i) => tctl(['workflow', 'update', 'execute', '--workflow-id', migrationWorkflowId(toApprove[3 * RUNS + i].environmentId), '--name', 'approve', '--input', signedPayloads[i]]),
        ],
        signedEnv,
      )),
    ]);
    const width = Math.max(...pairs.flatMap(([, a, b]) => [a.label.length, b.label.length]));
    console.log(`  ${'command'.padEnd(width)}   wall (median)   ratio   CPU (median)   ratio   peak RSS`);
    const row = (s: Series, against?: Series) =>
      `  ${s.label.padEnd(width)}   ${`${s.ms.toFixed(0)} ms`.padStart(13)}   ${against ? `${(s.ms / against.ms).toFixed(2)}x`.padStart(5) : ''.padStart(5)}` +
      `   ${`${s.cpuMs.toFixed(0)} ms`.padStart(12)}   ${against ? `${(s.cpuMs / against.cpuMs).toFixed(2)}x`.padStart(5) : ''.padStart(5)}   ${`${s.mb.toFixed(0)} MB`.padStart(8)}`;
    for (const [, ours, theirs] of pairs) {
      console.log(row(ours, theirs));
      console.log(row(theirs));
    }
    console.log('  targets: t2t --help under 100 ms; status and requests within 1.5x of the temporal CLI; approve within 1.5x of update execute');
  } finally {
    const exited = new Promise((resolve) => stack.once('exit', resolve));
    stack.kill('SIGINT');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
