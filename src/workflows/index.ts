// The workflow bundle's entry point: every workflow type the worker serves.
export { tenantMigration } from './migration/workflow';
export { batchMigration } from './batch';
export { reconcileMigrations } from './reconciler';
export { notificationDelivery } from './notification-delivery';
export { rehearseMigration } from './rehearsal';
export { detectStalledMigrations } from './stall-check';
