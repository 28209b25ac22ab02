// The workflow input of a new migration, as every submitting path builds it: the
// `t2t` client, the action gateway and `t2t sign submit`. Light on purpose (no
// Temporal client): `sign submit` builds it without connecting anywhere.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { MigrationInput } from '../contracts';

export type MigrationInputSettings = Pick<Config, 'approvalTimeoutMs' | 'lockboxTimeoutMs' | 'prepareWindowMs'> &
  Partial<Pick<Config, 'servicePollMs' | 'checkBudgetMs' | 'continueAfterEvents'>>;

export interface MigrationRequest {
  environmentId: string;
  targetTenantId: string;
  submittedBy: string;
  reversesMigrationId?: string;
}

/** Fresh migration ids and the durations of now: a running migration keeps the rules it started with. */
export function migrationInputOf(request: MigrationRequest, settings: MigrationInputSettings): MigrationInput {
  return {
    migrationId: randomUUID(),
    targetMigrationId: randomUUID(),
    environmentId: request.environmentId,
    targetTenantId: request.targetTenantId,
    submittedBy: request.submittedBy,
    approvalTimeoutMs: settings.approvalTimeoutMs,
    lockboxTimeoutMs: settings.lockboxTimeoutMs,
    prepareWindowMs: settings.prepareWindowMs,
    servicePollMs: settings.servicePollMs,
    checkBudgetMs: settings.checkBudgetMs,
    continueAfterEvents: settings.continueAfterEvents,
    ...(request.reversesMigrationId ? { reversesMigrationId: request.reversesMigrationId } : {}),
  };
}
