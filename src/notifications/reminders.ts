// When a migration reminds the people who must act, and when it escalates.
// Pure and deterministic: the workflow asks it for the next notice of the
// deadline it waits on and sleeps on a durable timer until then.
//
// For a deadline D and the settings (leads L1 > L2 > … and escalate-after E):
// a reminder at D − Li for each lead, and the escalation at D − min(L) + E,
// told when the last reminder has passed without action. Points already past
// when the migration first waits on D are skipped; a point that passes while no
// worker runs is sent when one comes back, and when several have passed by then
// only the latest is sent: never a burst of late reminders.
import type { DeadlineKind } from './events';

export interface NoticeSettings {
  /** longest first */
  reminderLeadsMs: number[];
  escalateAfterMs: number;
}

/** What a migration carries across continue-as-new: its settings (fixed at its first write) and the notices done. */
export interface NoticeState {
  settings?: NoticeSettings;
  /** keys of notices sent or skipped, and of deadlines planned; only those of the current deadlines are kept */
  done: string[];
}

export interface Notice {
  key: string;
  type: 'reminder' | 'escalation';
  deadlineKind: DeadlineKind;
  /** the deadline, ms since the epoch */
  deadline: number;
  /** when the notice is due, ms since the epoch */
  at: number;
  /** reminders: how long before the deadline */
  leadMs?: number;
}

const deadlineKey = (kind: DeadlineKind, deadline: number) => `${kind}@${new Date(deadline).toISOString()}`;

/** Every notice of a deadline, in time order. */
export function noticesFor(kind: DeadlineKind, deadline: number, settings: NoticeSettings): Notice[] {
  const base = deadlineKey(kind, deadline);
  const leads = [...settings.reminderLeadsMs].sort((a, b) => b - a);
  const notices: Notice[] = leads.map((leadMs) => ({ key: `${base}#r${leadMs}`, type: 'reminder', deadlineKind: kind, deadline, at: deadline - leadMs, leadMs }));
  if (leads.length > 0) {
    const at = deadline - leads[leads.length - 1] + settings.escalateAfterMs;
    if (at < deadline) notices.push({ key: `${base}#e`, type: 'escalation', deadlineKind: kind, deadline, at });
  }
  return notices.sort((a, b) => a.at - b.at);
}

/**
 * The next notice of this deadline not yet done. The first time a deadline is seen, the
 * notices already past are marked done (skipped), and the keys of the kind's earlier
 * deadlines (a window opened again by a new prepare) are dropped. Mutates `state`.
 */
export function nextNotice(state: NoticeState, kind: DeadlineKind, deadline: number, now: number): Notice | undefined {
  const settings = state.settings;
  if (!settings) return undefined;
  const base = deadlineKey(kind, deadline);
  const notices = noticesFor(kind, deadline, settings);
  if (!state.done.includes(base)) {
    state.done = state.done.filter((key) => !key.startsWith(`${kind}@`));
    state.done.push(base);
    for (const notice of notices) if (notice.at <= now) state.done.push(notice.key);
  }
  const open = notices.filter((notice) => !state.done.includes(notice.key));
  // Of the notices due already, the latest stands for the others.
  while (open.length > 1 && open[1].at <= now) state.done.push(open.shift()!.key);
  return open[0];
}

export function markDone(state: NoticeState, notice: Notice): void {
  if (!state.done.includes(notice.key)) state.done.push(notice.key);
}
