// Which version of the worker deployment takes new migrations: its current
// version. A versioned worker gets no task until some version is current, so on
// a fresh namespace the first worker makes its own version current; after that
// the operator switches versions (`temporal worker deployment
// set-current-version`, docs/deployment.md) and workers leave routing alone.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';

const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
const ABORTED = 10;
const UNIMPLEMENTED = 12;

export type RoutingOutcome =
  /** this call made the version current */
  | 'made-current'
  | 'already-current'
  /** another version is current and `when` was 'if-none': the operator decides */
  | 'another-is-current'
  /** the server has no Worker Versioning (the time-skipping test server): tasks are not routed by version */
  | 'unsupported';

export interface RoutingOptions {
  /** 'if-none': only on a deployment without a current version; 'always': a worker that replaces all others (the embedded stack, docker compose) */
  when: 'if-none' | 'always';
  /** how long to wait for the server to learn of the version from the worker's first polls */
  waitMs?: number;
}

const codeOf = (err: unknown): number | undefined => (err as { code?: unknown }).code as number | undefined;
type AsSent = { deploymentName?: string | null; buildId?: string | null } | null | undefined;
const sameVersion = (a: AsSent, b: WorkerDeploymentVersion) => !!a && a.deploymentName === b.deploymentName && a.buildId === b.buildId;

/**
 * Makes `version` current when `when` allows. Call it once the version's worker polls: the server
 * knows a version only from its workers' polls, and refuses to make current a version it does not know.
 */
export async function routeToVersion(client: Client, version: WorkerDeploymentVersion, options: RoutingOptions): Promise<{ outcome: RoutingOutcome; current?: WorkerDeploymentVersion }> {
  const namespace = client.options.namespace;
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  let refusal: string | undefined;
  for (;;) {
    let described: Awaited<ReturnType<typeof client.workflowService.describeWorkerDeployment>> | undefined;
    try {
      described = await client.workflowService.describeWorkerDeployment({ namespace, deploymentName: version.deploymentName });
    } catch (err) {
      if (codeOf(err) === UNIMPLEMENTED) return { outcome: 'unsupported' };
      if (codeOf(err) !== NOT_FOUND) throw err;
    }
    const info = described?.workerDeploymentInfo;
    const known = info?.versionSummaries?.some((summary) => sameVersion(summary.deploymentVersion, version)) ?? false;
    const current = info?.routingConfig?.currentDeploymentVersion ?? undefined;
    const currentVersion = current ? { deploymentName: current.deploymentName ?? '', buildId: current.buildId ?? '' } : undefined;
    if (sameVersion(currentVersion, version)) return { outcome: 'already-current', current: currentVersion };
    if (currentVersion && options.when === 'if-none') return { outcome: 'another-is-current', current: currentVersion };
    if (known) {
      try {
        await client.workflowService.setWorkerDeploymentCurrentVersion({
          namespace,
          deploymentName: version.deploymentName,
          buildId: version.buildId,
          // Another worker switching at the same moment makes this one look again rather than overrule it.
          conflictToken: described?.conflictToken,
          identity: client.options.identity,
          // Told to take over always (the embedded stack, docker compose), it replaces every older worker:
          // a task queue only an older one polled would otherwise block the switch.
          ignoreMissingTaskQueues: options.when === 'always',
        });
        return { outcome: 'made-current', current: version };
      } catch (err) {
        if (codeOf(err) !== FAILED_PRECONDITION && codeOf(err) !== ABORTED) throw err;
        refusal = (err as Error).message;
      }
    }
    if (Date.now() > deadline) {
      const name = `${version.deploymentName}.${version.buildId}`;
      throw new Error(refusal ? `could not make ${name} current: ${refusal}` : `the server has not seen worker deployment version ${name} poll after ${Math.round((options.waitMs ?? 60_000) / 1000)}s`);
    }
    await sleep(250);
  }
}

/**
 * How many open runs on the task queue are pinned to another build of the deployment: runs that
 * wait for a worker of their build. Visibility is eventually consistent: a run that started or
 * moved a moment ago may be counted on the wrong side.
 */
export async function runsPinnedElsewhere(client: Client, version: WorkerDeploymentVersion, taskQueue: string): Promise<number> {
  const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const { count } = await client.workflow.count(
    `TaskQueue = ${quote(taskQueue)} AND ExecutionStatus = 'Running' AND TemporalWorkerDeployment = ${quote(version.deploymentName)}` +
      ` AND TemporalWorkerDeploymentVersion != ${quote(`${version.deploymentName}:${version.buildId}`)}`,
  );
  return count;
}
