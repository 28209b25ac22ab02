// The workflow bundle's entry point: every workflow type the worker serves, each
// with its Worker Versioning behaviour (pinned; src/workflows/versioning.ts says
// which of them move to a newer version at continue-as-new).
import { tenantMigration } from './migration/workflow';
import { batchMigration } from './batch';
import { reconcileMigrations } from './reconciler';
import { notificationDelivery } from './notification-delivery';
import { rehearseMigration } from './rehearsal';
import { detectStalledMigrations } from './stall-check';
import { pinned } from './versioning';

// Long-lived, moved at continue-as-new.
pinned(tenantMigration);
pinned(batchMigration);
// Short runs: each finishes on its build long before that build's workers are removed.
pinned(reconcileMigrations);
pinned(notificationDelivery);
pinned(rehearseMigration);
pinned(detectStalledMigrations);

export { tenantMigration, batchMigration, reconcileMigrations, notificationDelivery, rehearseMigration, detectStalledMigrations };
