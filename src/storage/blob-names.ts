// The blob names of a migration's container, in a module of their own so that the
// command definitions can name them without loading the storage SDK.
/** The one file name Microsoft's procedure accepts for the user mapping (SPEC §4). */
export const MAPPING_BLOB_NAME = 'usermapping.csv';
