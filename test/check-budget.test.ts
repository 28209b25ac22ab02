import assert from 'node:assert/strict';
import { retryWithinBudget } from '../src/workflows/check-budget';

describe('role checks within their budget (retryWithinBudget)', () => {
  const backoff = { initialMs: 1000, coefficient: 2, maximumMs: 30_000 };

  /** the longest a check can take: every attempt runs to its limit, with every back-off between */
  function worstCaseMs(budgetMs: number): number {
    const { maximumAttempts, attemptMs } = retryWithinBudget(budgetMs, backoff);
    let waited = 0;
    let next = backoff.initialMs;
    for (let i = 1; i < maximumAttempts; i += 1) {
      waited += next;
      next = Math.min(next * backoff.coefficient, backoff.maximumMs);
    }
    return maximumAttempts * attemptMs + waited;
  }

  it('fits every attempt and back-off in the budget, whatever the budget', () => {
    for (const budgetMs of [1, 500, 1000, 2500, 4000, 10_000, 60_000, 180_000, 3_600_000]) {
      assert.ok(worstCaseMs(budgetMs) <= budgetMs, `${budgetMs} ms budget: worst case ${worstCaseMs(budgetMs)} ms`);
    }
  });

  it('retries a few times in the default three minutes, each attempt with time to answer', () => {
    assert.deepEqual(retryWithinBudget(180_000, backoff), { maximumAttempts: 7, attemptMs: 17_000 });
  });

  it('still tries twice in a short budget, once in a budget shorter than the first back-off', () => {
    assert.deepEqual(retryWithinBudget(4000, backoff), { maximumAttempts: 2, attemptMs: 1500 });
    assert.deepEqual(retryWithinBudget(1500, backoff), { maximumAttempts: 1, attemptMs: 1500 });
  });
});
