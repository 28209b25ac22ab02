// Long validations share the process with heartbeats and other activities: the
// hot loops call maybeYield() often and it gives the event loop a turn every few
// milliseconds, which costs nothing measurable.
export function createYielder(intervalMs = 10): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < intervalMs) return undefined;
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        last = performance.now();
        resolve();
      });
    });
  };
}
