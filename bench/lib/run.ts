// How a benchmark's entry point ends: the process exits as soon as its figures are
// printed (servers it started may still hold handles), non-zero with the error otherwise.
export function runBenchmark(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
