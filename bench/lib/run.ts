// How a benchmark's entry point ends: the process exits as soon as its figures are
// printed (servers it started may still hold handles), non-zero with the error otherwise.
export function runBenchmark(main: () => Promise<void>): void {
  // The benchmarks drive migrations with raw signals, as the tests outside the signed suites do: what they
  // measure is orchestration. A signed action costs one local activity more (the worker's reading of the
  // gateway's keys) and an Ed25519 check in the workflow.
  process.env.T2T_AUTH ??= 'off';
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** A numeric option of the benchmark's command line (`--name <n>`), or its default. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
