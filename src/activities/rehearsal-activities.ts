// The activities only a rehearsal needs (`t2t rehearse`): the copy of the environment
// it migrates, its removal, and the names behind the counts written next to the
// mapping. The rest of a rehearsal runs the migration's own activities on the copy.
import { Readable } from 'node:stream';
import type { StorageInfo } from '../contracts';
import type { EnvironmentCopy, MigrationService, ServiceMigration } from '../service/migration-service';

/** Where a rehearsal leaves the names of who would be re-mapped, left behind or need a mailbox. */
export const REHEARSAL_PEOPLE_BLOB = 'rehearsal/people.json';

export function createRehearsalActivities(service: MigrationService) {
  return {
    /** Idempotent: a retry finds the copy it made. Fails for good (NotSupported) on a back end that cannot copy. */
    async copyEnvironmentForRehearsal(input: { environmentId: string; copyId: string }): Promise<EnvironmentCopy> {
      return service.copyEnvironment(input.environmentId, input.copyId);
    },

    /** Idempotent: false when the copy is gone already (or was never made). */
    async removeRehearsalCopy(input: { copyId: string }): Promise<boolean> {
      return service.removeEnvironmentCopy(input.copyId);
    },

    /**
     * Writes who the migrate on the copy re-mapped, left behind or left with a mailbox to reconfigure
     * into the rehearsal's container (personal data stays out of the workflow's history); the blob's
     * name, or undefined where the back end does not record them.
     */
    async writeRehearsalPeople(input: { migration: ServiceMigration; storage: StorageInfo }): Promise<string | undefined> {
      const names = await service.migrationPeople(input.migration);
      if (!names) return undefined;
      const body = Readable.from([Buffer.from(`${JSON.stringify(names, null, 2)}\n`)]);
      await service.mappingContainer(input.storage).writeStream(REHEARSAL_PEOPLE_BLOB, body, 'application/json; charset=utf-8');
      return REHEARSAL_PEOPLE_BLOB;
    },
  };
}
