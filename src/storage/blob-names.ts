// The blob names of a migration's container, in a module of their own so that the
// command definitions and the migration service can name them without loading the
// storage SDK.
/** The one file name Microsoft's procedure accepts for the user mapping (SPEC §4). */
export const MAPPING_BLOB_NAME = 'usermapping.csv';

export function containerNameFor(migrationId: string): string {
  const name = `t2t-${migrationId.toLowerCase().replace(/[^a-z0-9-]/g, '')}`.replace(/-+/g, '-').slice(0, 63);
  return name.replace(/-$/, '');
}

/** The blob was replaced after the version being read was chosen. */
export class BlobChangedError extends Error {
  override name = 'BlobChangedError';
  constructor(blobName: string) {
    super(`${blobName} was replaced while it was being read`);
  }
}
