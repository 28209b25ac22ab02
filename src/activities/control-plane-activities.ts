// Activities that read or change the control plane. Each one is idempotent:
// repeating it after a crash or a retry leaves the same state as running it once.
import { ApplicationFailure } from '@temporalio/common';
import type { ControlPlane } from '../controlplane/control-plane';
import { Action, ErrorType, EligibilityFinding, PreparationWarning, ChecklistItem } from '../contracts';
import { checkEligibility } from '../migration/eligibility';
import { postMigrationChecklist, FlowCycleError } from '../migration/checklist';
import { authorizeAction, requiredTenant, AuthorizationResult } from '../migration/authorization';
import { migrationPeople } from '../migration/migration-people';

export interface Assessment {
  environmentName: string;
  sourceTenantId: string;
  sourceTenantName: string;
  targetTenantName: string;
  lockboxRequired: boolean;
  blocking: EligibilityFinding[];
  warnings: PreparationWarning[];
}

export function createControlPlaneActivities(controlPlane: ControlPlane) {
  async function environmentOrFail(environmentId: string) {
    const environment = await controlPlane.getEnvironment(environmentId);
    if (!environment) throw ApplicationFailure.nonRetryable(`environment '${environmentId}' does not exist`, ErrorType.NotFound);
    return environment;
  }

  return {
    async assessMigration(input: { environmentId: string; targetTenantId: string }): Promise<Assessment> {
      const environment = await environmentOrFail(input.environmentId);
      // After a migration the environment belongs to the target: judge it against the tenant it came from.
      const sourceTenantId = environment.tenantId === input.targetTenantId && environment.previousTenantId
        ? environment.previousTenantId
        : environment.tenantId;
      const sourceTenant = await controlPlane.getTenant(sourceTenantId);
      const targetTenant = await controlPlane.getTenant(input.targetTenantId);
      if (!sourceTenant) throw ApplicationFailure.nonRetryable(`tenant '${sourceTenantId}' does not exist`, ErrorType.NotFound);
      if (!targetTenant) throw ApplicationFailure.nonRetryable(`target tenant '${input.targetTenantId}' does not exist`, ErrorType.NotFound);
      const result = checkEligibility({ environment, sourceTenant, targetTenant });
      return {
        environmentName: environment.name,
        sourceTenantId,
        sourceTenantName: sourceTenant.name,
        targetTenantName: targetTenant.name,
        lockboxRequired: sourceTenant.lockboxEnabled,
        blocking: result.blocking,
        warnings: result.warnings,
      };
    },

    async authorize(input: {
      action: Action;
      actor: string;
      environmentId: string;
      sourceTenantId: string;
      targetTenantId: string;
    }): Promise<AuthorizationResult> {
      const tenantId = requiredTenant(input.action) === 'source' ? input.sourceTenantId : input.targetTenantId;
      const user = await controlPlane.getTenantUser(tenantId, input.actor);
      return authorizeAction(input.action, tenantId, user);
    },

    async getAdministrationMode(input: { environmentId: string }): Promise<{ adminMode: boolean }> {
      return { adminMode: (await environmentOrFail(input.environmentId)).adminMode };
    },

    async setAdministrationMode(input: { environmentId: string; adminMode: boolean }): Promise<void> {
      await controlPlane.setAdminMode(input.environmentId, input.adminMode);
    },

    async relinkEnvironment(input: { environmentId: string; targetTenantId: string; migrationId: string }): Promise<void> {
      await controlPlane.relinkEnvironment(input.environmentId, input.targetTenantId, input.migrationId);
    },

    async setSourceAccess(input: { environmentId: string; sourceAccess: boolean }): Promise<void> {
      await controlPlane.setSourceAccess(input.environmentId, input.sourceAccess);
    },

    /**
     * Mailboxes of re-mapped users: configured where the target identity has one,
     * listed for reconfiguration otherwise. Returns counts; the names stay in the
     * control plane (see migrationPeople).
     */
    async configureMailboxes(input: { migrationId: string; environmentId: string; sourceTenantId: string; targetTenantId: string }): Promise<{
      configured: number;
      toReconfigure: number;
      onmicrosoftRewritten: number;
    }> {
      let people;
      try {
        people = await migrationPeople(controlPlane, input);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, ErrorType.NotFound);
      }
      return {
        configured: people.mailboxesConfigured.length,
        toReconfigure: people.mailboxesToReconfigure.length,
        onmicrosoftRewritten: people.onmicrosoftAddressesRewritten.length,
      };
    },

    async postMigrationChecklist(input: { environmentId: string }): Promise<{ items: ChecklistItem[]; flowActivationOrder: string[] }> {
      const environment = await environmentOrFail(input.environmentId);
      try {
        return postMigrationChecklist(environment);
      } catch (err) {
        if (!(err instanceof FlowCycleError)) throw err;
        // A cycle must not undo a finished migration: the checklist says so instead.
        const withoutFlows = postMigrationChecklist({ ...environment, components: { ...environment.components, flows: [] } });
        return {
          items: [{ kind: 'flowCycle', title: 'Turn on flows by hand: their calls form a cycle', details: [(err as Error).message] }, ...withoutFlows.items],
          flowActivationOrder: [],
        };
      }
    },
  };
}
