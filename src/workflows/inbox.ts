// The admin actions a migration receives, by signal (fire and forget: what
// `temporal workflow signal` and other Temporal clients send) or by Update of
// the same name (the answer is the action's audit entry). One queue, taken one
// action at a time by the migration; what cannot wait for it (a malformed
// payload, a phase that takes no such action) is answered at once.
import { condition, currentUpdateInfo, setHandler, uuid4 } from '@temporalio/workflow';
import type { z } from 'zod';
import { isEmail } from '../mapping/email';
import {
  Action,
  ApproveLockboxSchema,
  ApproveSchema,
  AuditEntry,
  CancelSchema,
  DenySchema,
  MigrateSchema,
  PrepareSchema,
  RequestStorageSchema,
  approveLockboxSignal,
  approveLockboxUpdate,
  approveSignal,
  approveUpdate,
  cancelSignal,
  cancelUpdate,
  denySignal,
  denyUpdate,
  migrateSignal,
  migrateUpdate,
  prepareSignal,
  prepareUpdate,
  requestStorageSignal,
  requestStorageUpdate,
} from '../contracts';

export type AdminAction = Exclude<Action, 'submit'>;

export const SCHEMAS: Record<AdminAction, z.ZodType> = {
  approve: ApproveSchema,
  deny: DenySchema,
  approveLockbox: ApproveLockboxSchema,
  requestStorage: RequestStorageSchema,
  prepare: PrepareSchema,
  migrate: MigrateSchema,
  cancel: CancelSchema,
};

const MESSAGES = {
  approve: [approveSignal, approveUpdate],
  deny: [denySignal, denyUpdate],
  approveLockbox: [approveLockboxSignal, approveLockboxUpdate],
  requestStorage: [requestStorageSignal, requestStorageUpdate],
  prepare: [prepareSignal, prepareUpdate],
  migrate: [migrateSignal, migrateUpdate],
  cancel: [cancelSignal, cancelUpdate],
} as const;

export interface InboxMessage {
  action: AdminAction;
  payload: unknown;
  /** set for an Update: the audit entry recorded under this id is its answer */
  replyTo?: string;
}

/** The parsed payload, or why it is refused. */
export type Parsed = { ok: true; payload: Record<string, unknown>; actor: string } | { ok: false; reason: string; actor: string };

export function parseAction(action: AdminAction, payload: unknown): Parsed {
  // The usual payload passes the checks below; zod (loaded on first use) words what a bad one lacks.
  const checked = checkedPayload(action, payload);
  if (checked) return { ok: true, payload: checked, actor: String(checked.actor) };
  const parsed = SCHEMAS[action].safeParse(payload);
  if (parsed.success) {
    const data = parsed.data as Record<string, unknown>;
    return { ok: true, payload: data, actor: String(data.actor) };
  }
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `${action} refused: invalid payload: ${issue.path.join('.') || 'payload'}: ${issue.message}`, actor: actorOf(payload) };
}

type Field = (value: unknown) => { ok: boolean; value?: unknown };
const text =
  (min: number, max: number, trim = false): Field =>
  (value) => {
    if (typeof value !== 'string') return { ok: false };
    const v = trim ? value.trim() : value;
    return { ok: v.length >= min && v.length <= max, value: v };
  };
const flag: Field = (value) => ({ ok: typeof value === 'boolean', value });
/** As the schema's guestAdmin: trimmed, at most 254 characters, an email address. */
const email: Field = (value) => {
  if (typeof value !== 'string') return { ok: false };
  const v = value.trim();
  return { ok: v.length <= 254 && isEmail(v), value: v };
};
/** Each action's fields in the schema's order: required, or optional with the default the schema gives when absent. */
const FIELDS: Record<AdminAction, [key: string, check: Field, required: boolean, absent?: unknown][]> = (() => {
  const common: [string, Field, boolean][] = [
    ['actor', text(3, 320, true), true],
    ['requestId', text(0, 100), false],
  ];
  return {
    approve: common,
    approveLockbox: common,
    requestStorage: common,
    deny: [...common, ['reason', text(0, 2000, true), false, '']],
    prepare: [...common, ['targetTenantId', text(1, Infinity), true], ['mappingContainer', text(1, Infinity), true], ['guestAdmin', email, false]],
    migrate: [...common, ['targetTenantId', text(1, Infinity), true], ['at', text(0, 64), false], ['unschedule', flag, false], ['guestAdmin', email, false]],
    cancel: [...common, ['reason', text(0, 2000), false]],
  };
})();

/**
 * The payload as its schema returns it, when it plainly conforms (known fields stripped of
 * others, strings trimmed, defaults filled); undefined for anything else, which goes to the schema.
 * Never accepts what the schema refuses (test/payload-checks.test.ts compares them).
 */
export function checkedPayload(action: AdminAction, payload: unknown): Record<string, unknown> | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const proto = Object.getPrototypeOf(payload) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  const input = payload as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, check, required, absent] of FIELDS[action]) {
    if (!Object.prototype.hasOwnProperty.call(input, key) || input[key] === undefined) {
      if (required || Object.prototype.hasOwnProperty.call(input, key)) return undefined;
      if (absent !== undefined) out[key] = absent;
      continue;
    }
    const result = check(input[key]);
    if (!result.ok) return undefined;
    out[key] = result.value;
  }
  return out;
}

export function actorOf(payload: unknown): string {
  const actor = (payload as { actor?: unknown } | null)?.actor;
  return typeof actor === 'string' ? actor.slice(0, 320) : '(unknown)';
}

export function requestIdOf(payload: unknown): string | undefined {
  const id = (payload as { requestId?: unknown } | null)?.requestId;
  return typeof id === 'string' ? id.slice(0, 100) : undefined;
}

export interface InboxRules {
  /** why the migration cannot take this action now, whatever the payload says; undefined when it may */
  refusalNow(action: AdminAction): string | undefined;
  /** actions answered at once instead of queued (e.g. any action while migrate runs) */
  answerAtOnce(action: AdminAction): boolean;
  /** records a refusal in the audit trail and returns its entry */
  refuse(action: AdminAction, actor: string, reason: string, requestId?: string): AuditEntry;
}

export class Inbox {
  private readonly queue: InboxMessage[] = [];
  private readonly answers = new Map<string, AuditEntry>();
  private readonly waiting = new Set<string>();

  constructor(private readonly rules: InboxRules) {}

  get size(): number {
    return this.queue.length;
  }

  take(): InboxMessage | undefined {
    return this.queue.shift();
  }

  /** Takes every message left, e.g. to refuse them once the migration has ended. */
  drain(): InboxMessage[] {
    return this.queue.splice(0, this.queue.length);
  }

  /** Hands the entry to the Update waiting for it, if the action came as one. */
  answer(message: InboxMessage, entry: AuditEntry): void {
    if (message.replyTo && this.waiting.has(message.replyTo)) this.answers.set(message.replyTo, entry);
  }

  register(): void {
    for (const action of Object.keys(MESSAGES) as AdminAction[]) {
      const [signal, update] = MESSAGES[action];
      // Signal handlers never throw: bad input is refused and recorded, not a workflow failure.
      setHandler(signal, (payload: unknown) => {
        if (this.rules.answerAtOnce(action)) {
          const parsed = parseAction(action, payload);
          this.rules.refuse(action, parsed.actor, parsed.ok ? this.rules.refusalNow(action)! : parsed.reason, requestIdOf(payload));
          return;
        }
        this.queue.push({ action, payload });
      });
      setHandler(
        update,
        async (payload: unknown): Promise<AuditEntry> => {
          if (this.rules.answerAtOnce(action)) {
            return this.rules.refuse(action, actorOf(payload), this.rules.refusalNow(action)!, requestIdOf(payload));
          }
          // Keyed on the Update's own id: two Updates whose payloads name one requestId get an answer each.
          const replyTo = currentUpdateInfo()?.id ?? requestIdOf(payload) ?? uuid4();
          this.waiting.add(replyTo);
          this.queue.push({ action, payload, replyTo });
          try {
            await condition(() => this.answers.has(replyTo));
            return this.answers.get(replyTo)!;
          } finally {
            this.answers.delete(replyTo);
            this.waiting.delete(replyTo);
          }
        },
        {
          // Synchronous and without effects: a rejection here writes no history and does not count
          // towards the run's Updates (while migrate runs, every action is rejected here).
          validator: (payload: unknown) => {
            const parsed = parseAction(action, payload);
            if (!parsed.ok) throw new Error(parsed.reason);
            const refusal = this.rules.refusalNow(action);
            if (refusal) throw new Error(refusal);
          },
        },
      );
    }
  }
}
