// What the stall check tells a migration whose phase has run past its usual
// time. Workflow-safe: the migration workflow imports it.
import { defineSignal } from '@temporalio/workflow';
import type { Phase } from '../contracts';

export interface StalledNotice {
  /** the phase judged stalled: a notice that arrives after the phase changed is ignored */
  phase: Phase;
  /** when the migration entered it */
  since: string;
  elapsedMs: number;
  thresholdMs: number;
  basis: 'p90' | 'limit';
}

/** A signal, not an Update: the stall check needs no answer, and a migration that ended ignores it. */
export const stalledSignal = defineSignal<[StalledNotice]>('markStalled');
