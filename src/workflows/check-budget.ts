// A check an admin waits for (a role look-up) must end within its budget, whatever the
// directory does. Local activities retry inside the worker and do not stop at their
// schedule-to-close timeout (seen on SDK 1.24: a look-up failing on every attempt went on
// at 30-second intervals), so the budget is kept by the retry policy itself: as many
// attempts as fit in half the budget's back-off, each cut off at its share of the rest.
// Workflow-safe: plain arithmetic.

export interface BudgetedRetry {
  maximumAttempts: number;
  /** each attempt's own limit, in ms */
  attemptMs: number;
}

export function retryWithinBudget(budgetMs: number, backoff: { initialMs: number; coefficient: number; maximumMs: number }): BudgetedRetry {
  let attempts = 1;
  let waited = 0;
  let next = backoff.initialMs;
  while (waited + next <= budgetMs / 2) {
    waited += next;
    attempts += 1;
    next = Math.min(next * backoff.coefficient, backoff.maximumMs);
  }
  return { maximumAttempts: attempts, attemptMs: Math.max(1, Math.floor((budgetMs - waited) / attempts)) };
}
