// Which Worker Deployment version a worker declares (docs/deployment.md,
// "Versions"). A build id names the workflow code a worker runs: two workers
// with the same id must run the same bundle, or a pinned migration could meet
// other code than the one that wrote its history.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerOptions } from '@temporalio/worker';
import type { WorkerVersioning } from '../config';
import { projectRoot } from '../temporal-binaries';

/** The product's version from its package.json. */
export function packageVersion(root = projectRoot()): string {
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof version === 'string' && version !== '' ? version : '0.0.0';
}

/** The workflow code a bundle holds, whichever form it was given in. */
function bundleCode(bundle: NonNullable<WorkerOptions['workflowBundle']>): string {
  return 'codePath' in bundle ? readFileSync(bundle.codePath, 'utf8') : bundle.code;
}

/**
 * The default build id: the package version and the first 12 hex digits of the bundle's SHA-256,
 * e.g. `0.1.0-3f9a1c2b7d4e`. A change of workflow code changes it even when nobody bumped the
 * version; the same image gives every replica the same id.
 */
export function defaultBuildId(bundle: NonNullable<WorkerOptions['workflowBundle']>, version = packageVersion()): string {
  return `${version}-${createHash('sha256').update(bundleCode(bundle)).digest('hex').slice(0, 12)}`;
}

/** The version a worker with this configuration and bundle declares, or undefined for an unversioned worker. */
export function deploymentVersion(versioning: WorkerVersioning | undefined, bundle: NonNullable<WorkerOptions['workflowBundle']>): WorkerDeploymentVersion | undefined {
  if (!versioning) return undefined;
  return { deploymentName: versioning.deploymentName, buildId: versioning.buildId ?? defaultBuildId(bundle) };
}
