// Directory checks of mapped rows (SPEC §4), batched: one look-up per tenant per
// batch, never one per row.
import type { DirectoryChecker, MappingError, MappingRow } from './validator';
import { destinationDisabled, destinationNotFound, destinationUnlicensed, sourceNotFound } from './messages';

export interface DirectoryLookup {
  findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, { upn: string; enabled: boolean; licenses: string[] }>>;
}

export function createDirectoryChecker(lookup: DirectoryLookup, sourceTenantId: string, targetTenantId: string): DirectoryChecker {
  return {
    async checkBatch(rows: MappingRow[]): Promise<MappingError[]> {
      const [sources, destinations] = await Promise.all([
        lookup.findTenantUsers(sourceTenantId, rows.map((r) => r.source)),
        lookup.findTenantUsers(targetTenantId, rows.map((r) => r.destination)),
      ]);
      const errors: MappingError[] = [];
      for (const row of rows) {
        const error = (text: string) => errors.push({ ...row, error: text });
        if (!sources.has(row.source.toLowerCase())) error(sourceNotFound(row.source));
        const target = destinations.get(row.destination.toLowerCase());
        if (!target) error(destinationNotFound(row.destination));
        else if (!target.enabled) error(destinationDisabled(row.destination));
        else if (target.licenses.length === 0) error(destinationUnlicensed(row.destination));
      }
      return errors;
    },
  };
}
