// A migration's notifications, on the workflow side: the events it collects
// (phase changes, reminders, escalations; refusals come from its audit
// entries) until its audit trail is next written, and the reminders it owes.
// The events go to the control plane's outbox in the same local activity as
// the audit entries, so notifying costs the migration no history event of its
// own; delivery is another workflow's business (src/workflows/notification-delivery.ts).
import { workflowInfo } from '@temporalio/workflow';
import type { MigrationStatus, Phase } from '../contracts';
import type { AuditRecord } from '../controlplane/audit-log';
import { formatDuration } from '../duration';
import { DEADLINES, audienceOf, migrationRefOf, refusalEvent, sanitizeText, type DeadlineKind, type NotificationEvent, type NotificationKind } from '../notifications/events';
import { markDone, nextNotice, type Notice, type NoticeSettings, type NoticeState } from '../notifications/reminders';

/** Carried into the next run besides the migration's own state (continue-as-new), so that no reminder is sent twice. */
export interface CarriedNotifications {
  notices?: NoticeState;
}

interface PendingEvent {
  id: string;
  kind: NotificationKind;
  time: string;
  data: Record<string, unknown>;
  deadline?: DeadlineKind;
}

/** The deadline a phase waits on: the one reminders are about. */
export function deadlineWaitedOn(state: MigrationStatus): { kind: DeadlineKind; deadline: number } | undefined {
  const at = (iso: string | undefined) => (iso ? Date.parse(iso) : undefined);
  const pick = (kind: DeadlineKind, deadline: number | undefined) => (deadline === undefined || Number.isNaN(deadline) ? undefined : { kind, deadline });
  if (state.phase === 'PendingApproval') return pick('approval', at(state.approvalDeadline));
  if (state.phase === 'PendingLockbox') return pick('lockbox', at(state.lockboxDeadline));
  if (state.phase === 'Prepared') return pick('prepareWindow', at(state.prepareDeadline));
  return undefined;
}

export class MigrationNotifications {
  private pending: PendingEvent[] = [];
  private phaseChanges = 0;
  readonly notices: NoticeState;

  constructor(
    private readonly migrationId: string,
    carried?: NoticeState,
  ) {
    this.notices = carried ? { ...carried, done: [...carried.done] } : { done: [] };
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  phaseChanged(state: MigrationStatus, previous: Phase | undefined): void {
    this.phaseChanges += 1;
    const waited = deadlineWaitedOn(state);
    this.pending.push({
      id: `${this.migrationId}:phase:${workflowInfo().runId}:${this.phaseChanges}`,
      kind: 'phase-changed',
      time: new Date().toISOString(),
      data: {
        phase: state.phase,
        ...(previous && previous !== state.phase ? { previousPhase: previous } : {}),
        ...(state.status ? { status: sanitizeText(state.status) } : {}),
        ...(state.reason ? { reason: sanitizeText(state.reason) } : {}),
        ...(waited ? { deadlineKind: waited.kind, deadline: new Date(waited.deadline).toISOString() } : {}),
      },
    });
  }

  /**
   * The next reminder or escalation due for the deadline the migration waits on now, if any. None
   * while a cutover is booked inside the window: the migration migrates by itself, nobody must act.
   */
  next(state: MigrationStatus): Notice | undefined {
    const waited = state.phase === 'Prepared' && state.scheduledMigrateAt ? undefined : deadlineWaitedOn(state);
    return waited ? nextNotice(this.notices, waited.kind, waited.deadline, Date.now()) : undefined;
  }

  /** Records a due notice: sent once, whatever happens to this run. */
  send(notice: Notice, state: MigrationStatus): void {
    markDone(this.notices, notice);
    const rule = DEADLINES[notice.deadlineKind];
    const deadline = new Date(notice.deadline).toISOString();
    const common = {
      phase: state.phase,
      deadlineKind: notice.deadlineKind,
      deadline,
      who: rule.who,
      what: rule.what,
      command: rule.command(migrationRefOf(state)),
    };
    if (notice.type === 'reminder') {
      const before = formatDuration(notice.leadMs!);
      this.pending.push({
        id: `${this.migrationId}:reminder:${notice.deadlineKind}:${deadline}:${before}`,
        kind: 'reminder',
        time: new Date().toISOString(),
        deadline: notice.deadlineKind,
        data: { ...common, before, leadMs: notice.leadMs },
      });
    } else {
      this.pending.push({
        id: `${this.migrationId}:escalation:${notice.deadlineKind}:${deadline}`,
        kind: 'escalation',
        time: new Date().toISOString(),
        deadline: notice.deadlineKind,
        data: common,
      });
    }
  }

  /** The stall check marked the migration stalled in its current phase (src/operations/phase-times.ts). */
  stalled(state: MigrationStatus): void {
    const stall = state.stalled;
    if (!stall) return;
    this.pending.push({
      id: `${this.migrationId}:stalled:${stall.phase}:${stall.since}`,
      kind: 'stalled',
      time: new Date().toISOString(),
      data: { phase: stall.phase, since: stall.since, stalledAfter: formatDuration(stall.thresholdMs), basis: stall.basis },
    });
  }

  /** A timer summary for the Web UI. */
  static summary(notice: Notice): string {
    const what = notice.deadlineKind === 'prepareWindow' ? 'the end of the seven-day window' : `the ${notice.deadlineKind} deadline`;
    return notice.type === 'reminder' ? `reminder ${formatDuration(notice.leadMs!)} before ${what}` : `escalation if nobody acts before ${what}`;
  }

  /**
   * The events to write with these audit entries: those collected since the last write, and
   * one per refusal among the entries (its id is the entry's, so a rewrite changes nothing).
   */
  take(entries: readonly AuditRecord[], state: MigrationStatus): { events: NotificationEvent[]; collected: PendingEvent[] } {
    const collected = this.pending.splice(0, this.pending.length);
    const ref = migrationRefOf(state);
    const own = collected.map((event): NotificationEvent => {
      const tenants = audienceOf(event.kind, ref, event.deadline);
      return {
        id: event.id,
        kind: event.kind,
        time: event.time,
        tenants,
        ...(event.kind === 'escalation' && tenants[0] ? { escalateTo: tenants[0] } : {}),
        migration: ref,
        data: event.data,
      };
    });
    const refusals = entries.filter((entry) => entry.outcome === 'refused').map((entry) => refusalEvent(ref, state.phase, entry));
    const events = [...own, ...refusals].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return { events, collected };
  }

  /** Puts back what a failed write took, for the next write. */
  restore(collected: PendingEvent[]): void {
    this.pending.unshift(...collected);
  }

  /** The settings of the worker that first wrote the migration's trail: the migration keeps them. */
  settle(settings: NoticeSettings | undefined): void {
    if (!this.notices.settings && settings) this.notices.settings = { reminderLeadsMs: [...settings.reminderLeadsMs], escalateAfterMs: settings.escalateAfterMs };
  }

  carried(): CarriedNotifications {
    return { notices: { ...this.notices, done: [...this.notices.done] } };
  }
}
