/**
 * Workers benchmark: runs each measurement module of bench/workers/ in turn, in this process,
 * and prints every figure next to its reference and target.
 *
 *   npm run bench:workers                          every module, on the embedded ledger
 *   npm run bench:workers -- --only rfm            one module (rfm, tiers, webhooks, ingest, expiry, reconcile)
 *   TB_ADDRESS=127.0.0.1:3001 npm run bench:workers   the same against a real TigerBeetle
 *
 * Each module sets up its own database, Redis key prefix and ledger, measures its figure AND a
 * reference in the same run (what a bare scan, a bare read, a plain fetch loop or the
 * synchronous route does on this machine now), cleans up, and returns its figures. Machines
 * differ several-fold in speed, so the ratio to the reference is what to compare between runs;
 * README quotes both. Targets (the issue's, for the development machine) are printed beside the
 * measured values; nothing fails on a miss.
 */

type Figures = Record<string, string | number>;
interface BenchModule {
  run(log: (line: string) => void): Promise<Figures>;
}

const modules = ["tiers", "rfm", "webhooks", "ingest", "expiry", "reconcile"] as const;
const args = process.argv.slice(2);
const onlyIndex = args.indexOf("--only");
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;
if (only !== undefined && !(modules as readonly string[]).includes(only)) {
  process.stderr.write(`unknown module ${only}: expected one of ${modules.join(", ")}\n`);
  process.exit(2);
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const results: Record<string, Figures> = {};
log(
  `bench:workers on ${process.env.TB_ADDRESS === undefined ? "the embedded ledger" : `TigerBeetle at ${process.env.TB_ADDRESS}`}`,
);
for (const name of modules) {
  if (only !== undefined && name !== only) {
    continue;
  }
  log(`\n== ${name}`);
  const started = performance.now();
  const module = (await import(`./workers/${name}.ts`)) as BenchModule;
  results[name] = await module.run((line) => log(`  ${line}`));
  log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
log("\nsummary (JSON):");
log(JSON.stringify(results, null, 2));
process.exit(0);
