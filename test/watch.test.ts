import assert from 'node:assert/strict';
import { progressLine } from '../src/client/watch';
import type { MigrationStatus } from '../src/contracts';

describe('status --watch progress line', () => {
  const status = (phase: MigrationStatus['phase'], text?: string) => ({ phase, status: text }) as MigrationStatus;
  it('shows rows validated during validation and users re-mapped during migrate', () => {
    assert.equal(
      progressLine(status('Validating', 'Validate Tenant To Tenant Migration: Running'), 'validateMapping', { rowsValidated: 120000, errors: 3 }),
      'Validating · Validate Tenant To Tenant Migration · 120,000 rows validated, 3 errors',
    );
    assert.equal(
      progressLine(status('Migrating', 'Migrate Environment: Running'), 'remapUsers', { remapped: 4200, line: 4301 }),
      'Migrating · Migrate Environment · 4,200 users re-mapped (mapping line 4301)',
    );
    assert.equal(
      progressLine(status('Migrating', 'Migrate Environment: Running'), 'migrateEnvironment', { remapped: 10, line: 12 }),
      'Migrating · Migrate Environment · 10 users re-mapped (mapping line 12)',
    );
    assert.equal(
      progressLine(status('Migrating', 'Migrate Environment: Running'), 'migrateEnvironment', { lastStatus: 'Running' }),
      'Migrating · Migrate Environment · the migration service reports: Running',
    );
    assert.equal(progressLine(status('Approved'), undefined, undefined), 'Approved');
  });
});
