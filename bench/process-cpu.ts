// CPU seconds used so far by this process and by each of its child processes
// (the Temporal server, the storage emulator), read from /proc: the benchmark
// shows which process pays for a migration's extra cost. Linux only; elsewhere
// the children are left out.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;
/** child processes by what they run; the first match names the process */
const ROLES: [RegExp, string][] = [
  [/azurite/, 'storage'],
  [/trivial-worker\.js$/, 'trivial worker'],
  [/src[\\/]worker\.js$/, 'worker'],
  [/temporal/, 'server'],
];

function childPids(pid: number): number[] {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return threads.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return []; // a thread that ended meanwhile
    }
  });
}

function cpuSecondsOf(pid: number): { name: string; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const name = ROLES.find(([pattern]) => cmdline.some((arg) => pattern.test(arg)))?.[1] ?? cmdline[0];
    return { name, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** CPU seconds by process: 'bench' (this process: the driver and client) and its children by role. */
export function processCpu(): Map<string, number> {
  const usage = process.cpuUsage();
  const cpu = new Map<string, number>([['bench', (usage.user + usage.system) / 1e6]]);
  for (const pid of childPids(process.pid)) {
    const child = cpuSecondsOf(pid);
    if (child) cpu.set(child.name, (cpu.get(child.name) ?? 0) + child.seconds);
  }
  return cpu;
}

export function cpuPer(before: Map<string, number>, after: Map<string, number>, units: number): string {
  return [...after]
    .map(([name, s]): [string, number] => [name, ((s - (before.get(name) ?? 0)) * 1000) / units])
    .filter(([, ms]) => ms >= 0.5)
    .map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`)
    .join(', ');
}
