// How this bundle's workflows move between Worker Deployment versions
// (docs/deployment.md, "Versions"). Every type is pinned: a run finishes on the
// build it started on, so a change of workflow code never meets a history
// written by other code. The long-lived ones (a migration, a batch) move to the
// deployment's newer version at their next continue-as-new.
import { makeContinueAsNewFunc, setWorkflowOptions, workflowInfo, type Workflow } from '@temporalio/workflow';

/**
 * Pins a workflow type to the version its run started on. Only on a versioned worker: an
 * unversioned one (T2T_WORKER_VERSIONING=off) that reported a behaviour would have every workflow
 * task refused ("versioning behavior cannot be specified without deployment options"); an
 * unversioned worker's task carries a build id but no deployment name. The
 * getter runs at a run's first activation on this worker, when the task's version is known.
 */
export function pinned<F extends Workflow>(workflow: F): F {
  setWorkflowOptions(() => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'PINNED' } : {}), workflow);
  return workflow;
}

/**
 * Whether the deployment's target version (current or ramping) is no longer this run's: the run
 * should continue as new at its next quiet moment to move there. Refreshed at each workflow task,
 * so an idle run notices only when something wakes it; always false where the server or the
 * worker does not use Worker Versioning.
 */
export function newerVersionIsTarget(): boolean {
  return workflowInfo().targetWorkerDeploymentVersionChanged === true;
}

/**
 * Continues as new on the deployment's target version: without this option a pinned run's
 * successor inherits the old pin and the old build would never drain.
 */
export function continueAsNewOnTarget<F extends Workflow>(...args: Parameters<F>): Promise<never> {
  return makeContinueAsNewFunc<F>({ initialVersioningBehavior: 'AUTO_UPGRADE' })(...args);
}
