// What `t2t moveback` does: after a migration has succeeded, opens the reverse
// migration (the environment back to the tenant it came from) with the inverse user
// mapping generated from what the migration re-mapped, uploaded to the reverse
// migration's container for the admin to review. The reverse is a migration like
// any other: the same approvals, checks and seven-day window.
import { Readable } from 'node:stream';
import { writeFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { isFinalPhase, migrationWorkflowId, statusQuery, type MigrationStatus } from '../contracts';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationService } from '../service/migration-service';
import { MAPPING_BLOB_NAME } from '../storage/migration-storage';
import { stripQuery } from '../migration/container-uri';
import { MigrationClient, UserError, type SubmitRequest } from './migrations';

export interface MoveBack {
  /** the migration reversed, as it stands now */
  original: MigrationStatus;
  /** the reverse migration, just submitted (PendingApproval) */
  reverse: MigrationStatus;
  /** rows of the inverse mapping: every user the migration re-mapped who still has that identity */
  rows: number;
  /** re-mapped users whose identity has changed since (or who left the environment): not in the file */
  skipped: string[];
  /** where the inverse mapping is, in the reverse migration's container (no SAS: the storage step gives one) */
  containerUri: string;
  mappingUrl: string;
  /** the local copy, when asked for */
  file?: string;
}

export interface MoveBackDependencies {
  client: Client;
  migrations: MigrationClient;
  service: MigrationService;
  /** the simulated back end's control plane: the environment's users as they are now */
  controlPlane?: ControlPlane;
  /** how the reverse migration is submitted: sign-in on, through the action gateway (gateway-actions.ts); unset, `migrations.submit` */
  submit?: (request: SubmitRequest) => Promise<MigrationStatus>;
}

/** Opens the move-back of a succeeded migration; refused with one line (UserError) otherwise, changing nothing. */
/** `actor`: who submits without the gateway (with it, the signed-in admin; the name is then unused). */
export async function openMoveBack(deps: MoveBackDependencies, input: { migrationId: string; actor: string; out?: string }): Promise<MoveBack> {
  const { migrations, service, client } = deps;
  const original = await migrations.status(input.migrationId);
  const id = original.migrationId;
  if (original.phase !== 'Succeeded') throw new UserError(`moveback refused: migration ${id} did not succeed (it is ${original.phase}); only a migration that has succeeded can be moved back`);
  if (original.reversedBy?.phase === 'Succeeded') throw new UserError(`moveback refused: migration ${id} was moved back already, by migration ${original.reversedBy.migrationId}`);
  await refuseIfOpen(client, original);
  if (!original.sourceTenantId) throw new UserError(`moveback refused: migration ${id} does not say which tenant it came from`);
  const people = await service.migrationPeople({
    migrationId: id,
    environmentId: original.environmentId,
    sourceTenantId: original.sourceTenantId,
    targetTenantId: original.targetTenantId,
  });
  if (!people || !deps.controlPlane) {
    throw new UserError(`moveback refused: the ${service.backend} back end does not report which users a migration re-mapped, so the inverse mapping cannot be generated: submit the reverse migration with t2t submit and write its ${MAPPING_BLOB_NAME} yourself`);
  }
  const environment = await deps.controlPlane.getEnvironment(original.environmentId);
  if (!environment) throw new UserError(`moveback refused: environment '${original.environmentId}' no longer exists`);
  if (environment.tenantId !== original.targetTenantId) {
    throw new UserError(`moveback refused: environment '${original.environmentId}' is now in tenant '${environment.tenantId}', not in '${original.targetTenantId}' where migration ${id} moved it`);
  }

  // Each re-mapped user, back from the identity it was given to the one it had, if it still has that identity.
  const current = await previousIdentities(deps.controlPlane, original.environmentId);
  const lines = ['Source,Destination'];
  const skipped: string[] = [];
  for (const remap of people.remapped) {
    const previous = current.get(remap.targetUpn.toLowerCase());
    if (previous !== undefined && previous?.toLowerCase() === remap.sourceUpn.toLowerCase()) lines.push(`${remap.targetUpn},${remap.sourceUpn}`);
    else skipped.push(remap.targetUpn);
  }
  const csv = `${lines.join('\n')}\n`;

  let reverse: MigrationStatus;
  try {
    // The same checks as any submit: the actor is an admin of the tenant that holds the environment now.
    reverse = await (deps.submit ?? ((request: SubmitRequest) => migrations.submit(request)))({
      environmentId: original.environmentId,
      targetTenantId: original.sourceTenantId,
      actor: input.actor,
      reversesMigrationId: id,
    });
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.message.replace(/^submit refused/, 'moveback refused'));
    throw err;
  }
  if (reverse.phase === 'Failed') throw new UserError(`moveback refused: ${reverse.reason}`);

  const storage = await service.stagingStorage(reverse.migrationId);
  await service.mappingContainer(storage).writeStream(MAPPING_BLOB_NAME, Readable.from([Buffer.from(csv)]), 'text/csv; charset=utf-8');
  if (input.out) await writeFile(input.out, csv);
  const containerUri = stripQuery(storage.sasUrl);
  return {
    original,
    reverse,
    rows: lines.length - 1,
    skipped,
    containerUri,
    mappingUrl: `${containerUri}/${MAPPING_BLOB_NAME}`,
    ...(input.out ? { file: input.out } : {}),
  };
}

/** A move-back of this migration still open, or any open migration of the environment: refused before anything is done. */
async function refuseIfOpen(client: Client, original: MigrationStatus): Promise<void> {
  const handle = client.workflow.getHandle(migrationWorkflowId(original.environmentId));
  let open: MigrationStatus | undefined;
  try {
    if ((await handle.describe()).status.name === 'RUNNING') open = await handle.query(statusQuery);
  } catch {
    return;
  }
  if (!open || isFinalPhase(open.phase)) return;
  if (open.reversesMigrationId === original.migrationId) {
    throw new UserError(`moveback refused: a move-back of migration ${original.migrationId} is already open: migration ${open.migrationId} (${open.phase})`);
  }
  throw new UserError(`moveback refused: environment '${original.environmentId}' already has an open migration (${open.migrationId}, ${open.phase})`);
}

/** Each user of the environment now (lower-cased identity) → the identity it had before its last re-mapping. */
async function previousIdentities(controlPlane: ControlPlane, environmentId: string): Promise<Map<string, string | null>> {
  const users = new Map<string, string | null>();
  for (let afterUpn: string | undefined; ; ) {
    const page = await controlPlane.listEnvironmentUsers(environmentId, { afterUpn, limit: 1000 });
    if (page.length === 0) break;
    for (const user of page) users.set(user.upn.toLowerCase(), user.previousUpn);
    afterUpn = page[page.length - 1].upn;
  }
  return users;
}
