// What a benchmark child measures about itself while the work runs: wall time,
// peak RSS (sampled, and the kernel's high-water mark), the worst event-loop
// delay, and the longest time the main thread itself ran between two turns of
// the event loop: on a busy machine the delay also counts the time the thread
// waited for a CPU, which no code of ours can prevent.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface Measured<T> {
  result: T;
  ms: number;
  rssStartMb: number;
  /** sampled while the work ran */
  rssPeakMb: number;
  /** the process's lifetime high-water mark (getrusage) */
  maxRssMb: number;
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** longest run of the main thread between two turns of the event loop */
  cpuHeldMaxMs: number;
  /** how cpuHeldMaxMs was measured */
  cpuClock: 'main thread' | 'whole process';
}

/** CPU time in ms: the main thread's own (Linux schedstat), or the whole process's as an upper bound. */
function cpuClock(): { kind: Measured<unknown>['cpuClock']; now: () => number } {
  const schedstat = `/proc/self/task/${process.pid}/schedstat`;
  try {
    readFileSync(schedstat, 'utf8');
    return { kind: 'main thread', now: () => Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1e6 };
  } catch {
    return {
      kind: 'whole process',
      now: () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1000;
      },
    };
  }
}

const mb = (bytes: number) => bytes / 1024 / 1024;

export async function measure<T>(work: () => Promise<T>): Promise<Measured<T>> {
  (globalThis as { gc?: () => void }).gc?.();
  const rssStart = process.memoryUsage.rss();
  let rssPeak = rssStart;
  const cpu = cpuClock();
  let cpuLast = cpu.now();
  let cpuHeldMax = 0;
  let ticks = 0;
  const tick = () => {
    // Reading the RSS costs tens of microseconds: every fifth tick is plenty next to the kernel's high-water mark.
    if (ticks++ % 5 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    const now = cpu.now();
    cpuHeldMax = Math.max(cpuHeldMax, now - cpuLast);
    cpuLast = now;
  };
  const sampler = setInterval(tick, 5);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = performance.now();
  try {
    const result = await work();
    const ms = performance.now() - started;
    tick();
    return {
      result,
      ms,
      rssStartMb: mb(rssStart),
      rssPeakMb: mb(rssPeak),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      loopDelayMaxMs: delay.max / 1e6,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      cpuHeldMaxMs: cpuHeldMax,
      cpuClock: cpu.kind,
    };
  } finally {
    delay.disable();
    clearInterval(sampler);
  }
}
