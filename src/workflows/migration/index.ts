// The migration workflow, as the worker's bundle and the batch import it.
export { tenantMigration } from './workflow';
