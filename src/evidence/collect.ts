// What goes into a migration's evidence pack, read from where the product keeps
// it: the audit trail (control-plane database), the workflow's status query, the
// Temporal history of every run (validation rounds with the mapping file's
// SHA-256), the error reports in the migration's container, and the control
// plane's register of re-mapped users. Every part is plain JSON, CSV or text.
import { createHash } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Action, AuditEntry, MigrationStatus } from '../contracts';
import type { AuditLog, AuditRecord } from '../controlplane/audit-log';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationService } from '../service/migration-service';
import { UserError, type MigrationClient } from '../client/migrations';
import { stripQuery } from '../migration/container-uri';
import { fetchEveryRun, readHistories, type RunHistory, type ValidationRecord } from './history';
import { redactInPlace, redactText } from './redact';
import type { GatewayKeySet } from './proofs';

export interface EvidenceSources {
  client: Client;
  migrations: MigrationClient;
  service: MigrationService;
  /** the audit trail; without it (its database cannot be opened here) the workflow's own recent entries are used */
  auditLog: AuditLog | { unavailable: string };
  /** the simulated back end's control plane, which keeps who was re-mapped */
  controlPlane?: ControlPlane;
  /** the acting admin (--as): decides whether lists of people are included */
  actor?: string;
  /** the gateway's published keys, read only when an entry carries a proof, included so that proofs can be checked offline */
  gatewayKeys?: () => Promise<GatewayKeySet | { unavailable: string }>;
  now?: Date;
}

export interface EvidencePart {
  name: string;
  data: Buffer;
  /** one line for the README's list of parts */
  about: string;
}

export interface EvidenceFacts {
  migrationId: string;
  targetMigrationId: string;
  environmentId: string;
  phase: string;
  running: boolean;
  /** "running at <time>, phase X" or "ended at <time>, phase X" */
  state: string;
  generatedAt: string;
  generatedBy: string | null;
  runs: number;
  prepares: number;
  refusedActions: number;
  usersRemapped: number | null;
  usersListed: boolean;
  /** a move-back: the migration it reverses */
  reversesMigrationId: string | null;
  /** a reversed migration: its move-back, and that one's phase when the pack was made */
  reversedBy: { migrationId: string; phase?: string } | null;
}

export interface CollectedEvidence {
  facts: EvidenceFacts;
  parts: EvidencePart[];
}

/** Entry of the pack's audit trail: as the control plane recorded it, or from the workflow's state when it is not there yet. */
interface TrailEntry extends AuditEntry {
  count: number;
  recordedIn: 'audit trail' | 'workflow state';
}

const ACTION_WORDS: Record<Action, string> = {
  submit: 'submitted',
  approve: 'approved',
  deny: 'denied',
  approveLockbox: 'approved the lockbox request',
  requestStorage: 'generated the resource storage',
  prepare: 'prepared',
  migrate: 'migrated (migrate accepted)',
  cancel: 'cancelled',
};

/** How long a query of a closed run may wait for a worker to answer it. */
const QUERY_TIMEOUT_MS = 20_000;

export async function collectEvidence(migrationId: string, sources: EvidenceSources): Promise<CollectedEvidence> {
  const generatedAt = (sources.now ?? new Date()).toISOString();
  const found = await sources.migrations.find(migrationId);
  const runs = await fetchEveryRun(sources.client, found.workflowId, (await found.describe()).runId);
  const lastRun = runs[runs.length - 1];
  const handle = sources.client.workflow.getHandle(found.workflowId, lastRun.runId);
  // A move-back names the migration it reverses; a reversed migration, the move-back that reverses it.
  const status = await sources.migrations.withReversal(await readStatus(sources.migrations, handle, lastRun));
  const running = lastRun.closedAs === 'Running';
  const endedAt = lastRun.closedAt ?? generatedAt;
  const state = running ? `running at ${generatedAt}, phase ${status.phase}` : `ended at ${endedAt}, phase ${status.phase}`;

  const { trail, source: trailSource } = await auditTrail(sources.auditLog, status);
  const records = readHistories(runs);
  const people = await mayListPeople(sources, status);
  const parts: EvidencePart[] = [];
  const add = (name: string, about: string, data: string | Buffer) =>
    parts.push({ name, about, data: typeof data === 'string' ? Buffer.from(redactText(data), 'utf8') : data });

  // ---- who did what, and every refusal ----
  const accepted = trail.filter((e) => e.outcome === 'accepted');
  const refused = trail.filter((e) => e.outcome === 'refused');
  const actors: Record<string, { actor: string; at: string; note?: string }[]> = {};
  for (const entry of accepted) (actors[entry.action] ??= []).push({ actor: entry.actor, at: entry.at, ...(entry.note ? { note: entry.note } : {}) });
  const trailColumns = ['at', 'action', 'actor', 'outcome', 'reason', 'count', 'requestId', 'note', 'recordedIn'];
  const trailRow = (e: TrailEntry) => [e.at, e.action, e.actor, e.outcome, e.reason, e.count, e.requestId, e.note, e.recordedIn];
  add('audit/trail.csv', 'every action, accepted or refused, oldest first (count: identical refusals in a row)', csv(trailColumns, trail.map(trailRow)));
  add('audit/refused.csv', `every refused action (${refused.length} entries, ${refused.reduce((n, e) => n + e.count, 0)} refusals)`, csv(trailColumns, refused.map(trailRow)));
  // Whole entries: a signed action's proof must reach the auditor byte for byte, or its signature cannot be checked.
  const signed = trail.filter((e) => e.proof).length;
  add('audit/trail.json', `the same entries whole, in the same order, each signed action with the gateway's proof (${signed} signed, ${trail.length - signed} unsigned)`, json(trail));
  const gatewayKeys = signed > 0 ? await sources.gatewayKeys?.() : undefined;
  if (gatewayKeys && 'keys' in gatewayKeys) {
    add('audit/gateway-keys.json', `the gateway's published keys the proofs are checked against, as read from ${gatewayKeys.source} when the pack was made`, json({ keys: gatewayKeys.keys, source: gatewayKeys.source, readAt: generatedAt }));
  }
  const proofsLine =
    signed === 0
      ? `no entry carries the gateway's proof (actions taken with T2T_AUTH=off, or before signed actions)`
      : `${signed} of ${trail.length} entries carry the gateway's proof (audit/trail.json); ` +
        (gatewayKeys && 'keys' in gatewayKeys
          ? `the gateway's keys are included (audit/gateway-keys.json, from ${gatewayKeys.source})`
          : `the gateway's keys are not included (${gatewayKeys && 'unavailable' in gatewayKeys ? gatewayKeys.unavailable : 'none were read'}): verify with --gateway-keys <file>`);

  // ---- prepares: the mapping file's SHA-256 and the validation report of each round ----
  const prepares = await prepareRounds(records.validations, accepted, status, sources, people.allowed);
  for (const report of prepares.reports) parts.push(report);
  add('prepares.json', 'each prepare round (and the check before migrate): who, when, the mapping file\'s SHA-256, the validation result', json(prepares.rows));
  add(
    'prepares.csv',
    'the same, one row per round',
    csv(
      ['kind', 'round', 'preparedBy', 'acceptedAt', 'startedAt', 'finishedAt', 'outcome', 'mappingSha256', 'mappingEtag', 'rows', 'errors', 'errorReport', 'errorReportSha256', 'note'],
      prepares.rows.map((r) => [r.kind, r.round, r.preparedBy, r.acceptedAt, r.startedAt, r.finishedAt, r.outcome, r.mappingSha256, r.mappingEtag, r.rows, r.errors, r.errorReport, r.errorReportSha256, r.note]),
    ),
  );

  // ---- the status strings in order ----
  const statusRows = statusLog(status, records, lastRun);
  add('status.csv', 'every phase change with the article\'s status string it showed, in order', csv(['at', 'phase', 'status', 'recordedBy'], statusRows.map((r) => [r.at, r.phase, r.status, r.source])));

  // ---- the post-migration checklist ----
  const summary = status.summary;
  add('checklist.json', 'the post-migration checklist and the order to turn flows on', json(summary ? { checklist: summary.checklist, flowActivationOrder: summary.flowActivationOrder } : { checklist: null, reason: `the migration has not migrated (phase ${status.phase})` }));
  add('checklist.txt', 'the same, to read', checklistText(status));

  // ---- the re-mapped users ----
  const users = await remappedUsers(sources, status, people);
  add('users/summary.json', 'how many users were re-mapped, left out, and whose mailbox needs reconfiguring; whether the list is included and why', json(users.summary));
  if (users.list) add('users/remapped.csv', 'each re-mapped user: source identity, target identity', csv(['source', 'target'], users.list.map((r) => [r.sourceUpn, r.targetUpn])));

  // ---- the Temporal history of every run ----
  let redacted = 0;
  const runRows = runs.map((run, index) => {
    redacted += redactInPlace(run.history);
    const name = `history/run-${String(index + 1).padStart(2, '0')}-${run.runId}.json`;
    parts.push({ name, about: `Temporal history of run ${index + 1} (${run.closedAs}), exported as JSON`, data: Buffer.from(historyToJSON(run.history), 'utf8') });
    return { run: index + 1, runId: run.runId, closedAs: run.closedAs, startedAt: run.startedAt ?? null, closedAt: run.closedAt ?? null, events: run.history.events?.length ?? 0, payloadKeyIds: run.payloadKeyIds, part: name };
  });
  const payloadKeyIds = [...new Set(runs.flatMap((run) => run.payloadKeyIds))].sort();
  add('history/runs.json', `the workflow's runs in order (${runs.length}; each continue-as-new starts the next)`, json({ workflowId: found.workflowId, runs: runRows, sasSignaturesRedacted: redacted, payloadsDecodedWithKeyIds: payloadKeyIds }));

  // ---- the migration itself ----
  const generatedBy = sources.actor ?? null;
  const refusedActions = refused.reduce((n, e) => n + e.count, 0);
  const facts: EvidenceFacts = {
    migrationId: status.migrationId,
    targetMigrationId: status.targetMigrationId,
    environmentId: status.environmentId,
    phase: status.phase,
    running,
    state,
    generatedAt,
    generatedBy,
    runs: runs.length,
    prepares: prepares.rows.filter((r) => r.kind === 'prepare').length,
    refusedActions,
    usersRemapped: users.summary.usersRemapped,
    usersListed: Boolean(users.list),
    reversesMigrationId: status.reversesMigrationId ?? null,
    reversedBy: status.reversedBy ?? null,
  };
  add(
    'migration.json',
    'the migration: ids, environment, tenants, phase, deadlines, who did what and when, whether it was still running',
    json({
      ...facts,
      workflowId: found.workflowId,
      environmentName: status.environmentName ?? null,
      sourceTenantId: status.sourceTenantId ?? null,
      targetTenantId: status.targetTenantId,
      backend: status.backend ?? 'simulated',
      serviceMigrationId: status.serviceMigrationId ?? null,
      status: status.status ?? null,
      reason: status.reason ?? null,
      submittedAt: status.submittedAt,
      approvalDeadline: status.approvalDeadline ?? null,
      lockboxRequired: status.lockboxRequired,
      lockboxDeadline: status.lockboxDeadline ?? null,
      prepareDeadline: status.prepareDeadline ?? null,
      container: status.storage ? stripQuery(status.storage.sasUrl) : null,
      warnings: status.warnings,
      unknown: status.unknown ?? [],
      auditTrailFrom: trailSource,
      actors,
    }),
  );
  const readme = readmeText({ facts, status, trailSource, proofsLine, actors, refused, prepares: prepares.rows, statusRows, users: users.summary, runs: runRows, redacted, payloadKeyIds, parts });
  parts.unshift({ name: 'README.txt', about: 'this file', data: Buffer.from(redactText(readme), 'utf8') });
  return { facts, parts };
}

/**
 * The migration's state: the result of a completed run needs no worker; otherwise the status
 * query (corrected for a run closed without the workflow ending it), which a worker answers.
 */
async function readStatus(migrations: MigrationClient, handle: WorkflowHandle, run: RunHistory): Promise<MigrationStatus> {
  const events = run.history.events ?? [];
  const completed = events[events.length - 1]?.workflowExecutionCompletedEventAttributes;
  const result = completed?.result?.payloads?.[0];
  if (result) return defaultPayloadConverter.fromPayload(result as Parameters<typeof defaultPayloadConverter.fromPayload>[0]) as MigrationStatus;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      migrations.statusOf(handle),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UserError('no worker answered the migration\'s status query: start one (npm start or npm run worker) and try again')), QUERY_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The audit trail from the control plane; accepted actions the workflow recorded but has not
 * written there yet (it writes when it next waits, e.g. after migrate) come from its state.
 */
async function auditTrail(auditLog: EvidenceSources['auditLog'], status: MigrationStatus): Promise<{ trail: TrailEntry[]; source: string }> {
  let stored: AuditRecord[] = [];
  let source = 'the audit trail in the control-plane database';
  try {
    if ('unavailable' in auditLog) throw new Error(auditLog.unavailable);
    stored = await auditLog.list(status.migrationId);
  } catch (err) {
    source = `the workflow's state only (its most recent 100 entries): the audit trail could not be read (${(err as Error).message.split('\n')[0]})`;
  }
  if (stored.length === 0 && !source.startsWith('the workflow')) {
    source = "the workflow's state only (its most recent 100 entries): the audit trail holds nothing for this migration (it started before the trail was stored)";
  }
  const trail: TrailEntry[] = stored.map((r) => ({
    at: r.at,
    action: r.action as Action,
    actor: r.actor,
    outcome: r.outcome,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.requestId ? { requestId: r.requestId } : {}),
    ...(r.note ? { note: r.note } : {}),
    ...(r.proof ? { proof: r.proof } : {}),
    count: r.count,
    recordedIn: 'audit trail',
  }));
  const key = (e: AuditEntry) => `${e.at}\u0000${e.action}\u0000${e.actor}\u0000${e.outcome}`;
  const known = new Set(trail.map(key));
  // With no stored trail (a migration from before the trail was stored), the workflow's recent entries are all there is.
  const fromState = status.audit.filter((e) => !known.has(key(e)) && (trail.length === 0 || e.outcome === 'accepted'));
  for (const e of fromState) trail.push({ ...e, count: 1, recordedIn: 'workflow state' });
  return { trail: trail.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)), source };
}

interface PeopleRule {
  allowed: boolean;
  why: string;
}

/** The rule for lists of people (re-mapped users, error report rows): an admin of the migration's source or target tenant. */
async function mayListPeople(sources: EvidenceSources, status: MigrationStatus): Promise<PeopleRule> {
  const actor = sources.actor;
  if (!actor) return { allowed: false, why: 'no acting admin was named (--as)' };
  if (!status.sourceTenantId) return { allowed: false, why: 'the migration never learned its source tenant' };
  const tenants = { sourceTenantId: status.sourceTenantId, targetTenantId: status.targetTenantId };
  try {
    const [asSource, asTarget] = await Promise.all([
      sources.service.authorize('prepare', actor, tenants),
      sources.service.authorize('approve', actor, tenants),
    ]);
    if (asSource.allowed) return { allowed: true, why: `${actor} is an admin of the source tenant (${tenants.sourceTenantId})` };
    if (asTarget.allowed) return { allowed: true, why: `${actor} is an admin of the target tenant (${tenants.targetTenantId})` };
    return { allowed: false, why: `${actor} is not an enabled admin of the source tenant (${tenants.sourceTenantId}) or the target tenant (${tenants.targetTenantId})` };
  } catch (err) {
    return { allowed: false, why: `the directory could not say whether ${actor} is an admin of either tenant (${(err as Error).message})` };
  }
}

interface PrepareRow {
  kind: ValidationRecord['kind'];
  round: number | null;
  preparedBy: string | null;
  acceptedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: 'passed' | 'failed' | 'could not run' | 'running';
  mappingSha256: string | null;
  mappingEtag: string | null;
  rows: number | null;
  errors: number | null;
  errorReport: string | null;
  errorReportSha256: string | null;
  servicePrepare?: unknown;
  note: string | null;
}

async function prepareRounds(validations: ValidationRecord[], accepted: TrailEntry[], status: MigrationStatus, sources: EvidenceSources, mayList: boolean) {
  const acceptedPrepares = accepted.filter((e) => e.action === 'prepare');
  const rows: PrepareRow[] = [];
  const reports: EvidencePart[] = [];
  const lastWithRound = new Map<number, ValidationRecord>();
  for (const v of validations) if (v.round !== undefined) lastWithRound.set(v.round, v);
  let prepareIndex = 0;
  for (const v of validations) {
    // Each accepted prepare ran exactly one round, in the same order.
    const by = v.kind === 'prepare' ? acceptedPrepares[prepareIndex++] : undefined;
    const result = v.result;
    const row: PrepareRow = {
      kind: v.kind,
      round: v.round ?? null,
      preparedBy: by?.actor ?? null,
      acceptedAt: by?.at ?? null,
      startedAt: v.scheduledAt ?? null,
      finishedAt: result?.finishedAt ?? v.closedAt ?? null,
      outcome: result ? (result.errors > 0 ? 'failed' : 'passed') : v.failure ? 'could not run' : 'running',
      mappingSha256: result?.mappingSha256 ?? null,
      mappingEtag: result?.mappingEtag ?? null,
      rows: result?.rows ?? null,
      errors: result?.errors ?? null,
      errorReport: null,
      errorReportSha256: null,
      ...(v.servicePrepare ? { servicePrepare: v.servicePrepare } : {}),
      note: v.failure ? `validation could not run: ${v.failure}` : result && !result.mappingSha256 ? (result.errors > 0 && result.rows === 0 ? 'no mapping file was read (none in the container), or the round ran before the product recorded the SHA-256' : 'the round ran before the product recorded the SHA-256') : null,
    };
    if (row.outcome === 'passed' && v.servicePrepare && !('succeeded' in v.servicePrepare && v.servicePrepare.succeeded)) row.outcome = 'failed';
    if (result && result.errors > 0 && v.round !== undefined) {
      const blobName = `validation/round-${v.round}-errors.csv`;
      if (lastWithRound.get(v.round) !== v) {
        row.note = 'its error report was overwritten by a later round of the same number';
      } else {
        const report = await readReport(sources.service, status, blobName);
        if ('data' in report) {
          row.errorReportSha256 = sha256(report.data);
          if (mayList) {
            row.errorReport = `validation/round-${v.round}-errors.csv`;
            reports.push({ name: row.errorReport, about: `the error report of round ${v.round}, as the product wrote it in the migration's container`, data: report.data });
          } else {
            row.note = 'error report not included: it names users, and the acting admin may not see them (see users/summary.json); its SHA-256 is given';
          }
        } else {
          row.note = `error report not included: ${report.unavailable}`;
        }
      }
    }
    rows.push(row);
  }
  return { rows, reports };
}

async function readReport(service: MigrationService, status: MigrationStatus, blobName: string): Promise<{ data: Buffer } | { unavailable: string }> {
  if (!status.storage) return { unavailable: 'the migration has no container' };
  try {
    const opened = await service.mappingContainer(status.storage).openVersion(blobName);
    if (!opened) return { unavailable: `${blobName} is no longer in the migration's container` };
    const chunks: Buffer[] = [];
    for await (const chunk of opened.body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return { data: Buffer.concat(chunks) };
  } catch (err) {
    return { unavailable: `the container could not be read (${(err as Error).message.split('\n')[0]})` };
  }
}

interface StatusRow {
  at: string;
  phase: string;
  status: string;
  source: string;
}

function statusLog(status: MigrationStatus, records: ReturnType<typeof readHistories>, lastRun: RunHistory): StatusRow[] {
  const rows: StatusRow[] = status.statusLog?.length
    ? status.statusLog.map((c) => ({ at: c.at, phase: c.phase, status: c.status ?? '', source: 'workflow' }))
    : // A migration started before the workflow logged its status strings: the phases from the history.
      records.phases.map((p) => ({ at: p.at ?? '', phase: p.phase, status: '', source: 'Temporal history (T2TPhase; the status string was not logged)' }));
  if (!['Running', 'Completed', 'ContinuedAsNew'].includes(lastRun.closedAs) && rows[rows.length - 1]?.phase !== status.phase) {
    rows.push({ at: lastRun.closedAt ?? '', phase: status.phase, status: status.status ?? '', source: `Temporal (the run was ${lastRun.closedAs.toLowerCase()})` });
  }
  return rows;
}

function checklistText(status: MigrationStatus): string {
  const summary = status.summary;
  if (!summary) return `No post-migration checklist: the migration has not migrated (phase ${status.phase}).\n`;
  const lines = ['Post-migration checklist', ''];
  if (summary.checklist.length === 0) lines.push('(nothing to do)');
  for (const item of summary.checklist) {
    lines.push(`- ${item.title}`);
    for (const detail of item.details) lines.push(`    ${detail}`);
  }
  if (summary.flowActivationOrder.length > 0) lines.push('', `Turn flows on in this order: ${summary.flowActivationOrder.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

async function remappedUsers(sources: EvidenceSources, status: MigrationStatus, people: PeopleRule) {
  const s = status.summary;
  const base = {
    usersRemapped: s ? s.usersRemapped : null,
    unmappedUsers: s ? s.unmappedUsers : null,
    mailboxesConfigured: s ? s.mailboxesConfigured : null,
    mailboxesToReconfigure: s ? s.mailboxesToReconfigure : null,
    onmicrosoftAddressesRewritten: s ? s.onmicrosoftAddressesRewritten : null,
    rule: 'the list of re-mapped users (and the rows of error reports) is included only when the acting admin (--as) is an enabled Power Platform, Dynamics 365 or Global admin of the migration\'s source or target tenant',
  };
  const notListed = (why: string) => ({ summary: { ...base, listed: false, why }, list: undefined });
  if (!s) return notListed(`the migration has not migrated (phase ${status.phase})`);
  if (!people.allowed) return notListed(people.why);
  if ((status.backend ?? 'simulated') !== 'simulated' || !sources.controlPlane) return notListed(`the ${status.backend ?? 'migration'} service does not report who was re-mapped`);
  const list = await sources.controlPlane.listRemaps(status.migrationId);
  return { summary: { ...base, listed: true, why: people.why, listedUsers: list.length }, list };
}

function readmeText(input: {
  facts: EvidenceFacts;
  status: MigrationStatus;
  trailSource: string;
  proofsLine: string;
  actors: Record<string, { actor: string; at: string; note?: string }[]>;
  refused: TrailEntry[];
  prepares: PrepareRow[];
  statusRows: StatusRow[];
  users: { usersRemapped: number | null; listed: boolean; why: string };
  runs: { run: number; runId: string; closedAs: string; events: number }[];
  redacted: number;
  payloadKeyIds: string[];
  parts: EvidencePart[];
}): string {
  const { facts, status } = input;
  const lines: string[] = [];
  lines.push(`EVIDENCE PACK of tenant-to-tenant migration ${facts.migrationId}`);
  lines.push('');
  if (facts.running) {
    lines.push(`*** THE MIGRATION WAS STILL RUNNING: ${facts.state}. ***`);
    lines.push('*** This pack is a snapshot of a migration that had not ended; a later pack may say more. ***');
  } else {
    lines.push(`The migration had ended: ${facts.state}.`);
  }
  lines.push('');
  lines.push(`Generated:     ${facts.generatedAt} by t2t evidence${facts.generatedBy ? `, acting admin ${facts.generatedBy}` : ' (no acting admin named)'}`);
  lines.push(`Environment:   ${status.environmentName ?? ''} (${status.environmentId})`);
  lines.push(`Tenants:       ${status.sourceTenantId ?? '?'} -> ${status.targetTenantId}`);
  lines.push(`Migration ids: source ${status.migrationId}, target ${status.targetMigrationId}`);
  lines.push(`Back end:      ${status.backend ?? 'simulated'}`);
  lines.push(`Phase:         ${status.phase}${status.status ? ` (${status.status})` : ''}`);
  if (status.reason) lines.push(`Reason:        ${status.reason}`);
  if (facts.reversesMigrationId) lines.push(`Move-back of:  migration ${facts.reversesMigrationId} (this migration reverses it)`);
  if (facts.reversedBy) lines.push(`Reversed by:   move-back ${facts.reversedBy.migrationId}${facts.reversedBy.phase ? ` (${facts.reversedBy.phase} when this pack was made)` : ''}`);
  lines.push('');
  lines.push(`WHO DID WHAT (accepted actions, from ${input.trailSource})`);
  const order: Action[] = ['submit', 'approve', 'deny', 'approveLockbox', 'requestStorage', 'prepare', 'migrate', 'cancel'];
  let any = false;
  for (const action of order) {
    for (const a of input.actors[action] ?? []) {
      any = true;
      lines.push(`  ${a.at}  ${a.actor} ${ACTION_WORDS[action]}${a.note ? ` (${a.note})` : ''}`);
    }
  }
  if (!any) lines.push('  (no accepted action recorded)');
  lines.push(`  Signed actions: ${input.proofsLine}.`);
  if (status.lockboxRequired && !(input.actors.approveLockbox?.length)) lines.push('  The source tenant has Customer Lockbox on; no lockbox approval is recorded.');
  lines.push('');
  const refusals = input.refused.reduce((n, e) => n + e.count, 0);
  lines.push(`REFUSED ACTIONS: ${refusals}${refusals > 0 ? ' (audit/refused.csv)' : ''}`);
  for (const e of input.refused.slice(0, 20)) lines.push(`  ${e.at}  ${e.action} by ${e.actor}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.reason ?? ''}`);
  if (input.refused.length > 20) lines.push(`  ... ${input.refused.length - 20} more entries in audit/refused.csv`);
  lines.push('');
  lines.push('PREPARE ROUNDS (prepares.csv; SHA-256 of usermapping.csv as the validation read it)');
  if (input.prepares.length === 0) lines.push('  (none)');
  for (const p of input.prepares) {
    const who = p.preparedBy ? ` by ${p.preparedBy}` : '';
    lines.push(`  ${p.kind === 'prepare' ? 'prepare' : 'check before migrate'}, round ${p.round ?? '?'}${who} at ${p.acceptedAt ?? p.startedAt ?? '?'}: ${p.outcome}` + (p.rows !== null ? `, ${p.rows} rows, ${p.errors} errors` : ''));
    lines.push(`      mapping SHA-256: ${p.mappingSha256 ?? '(not recorded)'}${p.errorReport ? `; report: ${p.errorReport}` : ''}`);
    if (p.note) lines.push(`      ${p.note}`);
  }
  lines.push('');
  lines.push('STATUS STRINGS IN ORDER (status.csv)');
  for (const r of input.statusRows) lines.push(`  ${r.at}  ${r.phase.padEnd(18)} ${r.status}`);
  lines.push('');
  lines.push(`POST-MIGRATION CHECKLIST: ${status.summary ? `${status.summary.checklist.length} items (checklist.txt)` : 'none (the migration has not migrated)'}`);
  lines.push(`RE-MAPPED USERS: ${input.users.usersRemapped ?? 'none (the migration has not migrated)'}; list ${input.users.listed ? 'included (users/remapped.csv)' : `not included: ${input.users.why}`}`);
  lines.push(`TEMPORAL HISTORY: ${input.runs.length} run(s), ${input.runs.reduce((n, r) => n + r.events, 0)} events (history/)` + (input.redacted > 0 ? `; ${input.redacted} SAS signatures replaced by sig=REDACTED, nothing else changed` : ''));
  lines.push(
    input.payloadKeyIds.length > 0
      ? `  Payloads were encrypted in Temporal with key(s) ${input.payloadKeyIds.join(', ')}; they are included decoded.`
      : '  Payloads were recorded unencrypted (no payload key).',
  );
  lines.push('');
  lines.push('PARTS');
  for (const part of input.parts) lines.push(`  ${part.name}: ${part.about}`);
  lines.push('  SHA256SUMS: the SHA-256 of every part above, for sha256sum -c');
  lines.push('  manifest.json: every part with its SHA-256 and size; manifest.sig: its signature');
  lines.push('');
  lines.push('HOW TO VERIFY');
  lines.push('  With the product:    t2t evidence verify <this archive> [--gateway-keys <GET /v1/keys of the gateway, saved>]');
  lines.push('                       (also checks the gateway\'s signature on every signed action of audit/trail.json)');
  lines.push('  Without it, in the folder this archive unpacks to:');
  lines.push('    1. the signature of manifest.json (the algorithm and key id are in manifest.json):');
  lines.push('       HMAC-SHA256: openssl dgst -sha256 -mac HMAC -macopt key:"$KEY" -binary manifest.json | cmp - manifest.sig');
  lines.push('       Ed25519:     openssl pkeyutl -verify -pubin -inkey evidence-public.pem -rawin -in manifest.json -sigfile manifest.sig');
  lines.push('    2. every part against the signed manifest:');
  lines.push('       jq -r \'.parts[] | "\\(.sha256)  \\(.name)"\' manifest.json | sha256sum -c');
  lines.push('       (or sha256sum -c SHA256SUMS, after checking that SHA256SUMS has the SHA-256 manifest.json gives it)');
  lines.push('');
  lines.push('WHAT THIS PACK DOES NOT PROVE');
  lines.push('  - that the people named are who they say: actors are the identities the product checked against the');
  lines.push('    tenants\' directories when they acted, not proof of who sat at the keyboard;');
  lines.push('  - actions refused by the client or by the workflow\'s Update validators before they reached the');
  lines.push('    workflow (a malformed payload, an action the phase cannot take) leave no record and are not here;');
  lines.push('  - that the pack is complete against a signer who lies: the signature proves that the parts are');
  lines.push('    as the holder of the key produced them, not that the product\'s records were complete or true.');
  return `${lines.join('\n')}\n`;
}

export function csv(columns: string[], rows: unknown[][]): string {
  const cell = (value: unknown) => {
    const text = value === undefined || value === null ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
