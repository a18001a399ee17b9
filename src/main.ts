/**
 * The composition root: reads the configuration, builds every client once, and shuts them down
 * in reverse order under a deadline.
 *
 * Today the only component is the ledger. The membership store (Postgres), the workers (BullMQ on
 * Redis) and the HTTP API are planned and will be started here, in that order, when they exist.
 */
import { pino } from "pino";
import type { Config } from "./config.ts";
import { ConfigError, loadConfig } from "./config.ts";
import type { LedgerClient } from "./ledger/index.ts";
import { createLedgerClient, ledgerLimits } from "./ledger/index.ts";

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      // No logger yet: LOG_LEVEL itself may be what is wrong.
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

const config = readConfig();
const logger = pino({ level: config.log.level });

process.on("uncaughtException", (error) => {
  logger.fatal({ err: error }, "uncaught exception; exiting");
  process.exit(1);
});
process.on("unhandledRejection", (reason) => {
  logger.fatal({ err: reason }, "unhandled rejection; exiting");
  process.exit(1);
});

let ledger: LedgerClient;
try {
  ledger = await createLedgerClient(config.ledger, logger.child({ module: "ledger" }));
} catch (error) {
  logger.fatal({ err: error }, "could not open the ledger");
  process.exit(1);
}

// Until the HTTP server exists nothing else holds the event loop open; this timer keeps the
// process running so it can be signalled. It is cleared on shutdown.
const keepAlive = setInterval(() => undefined, 60_000);

logger.info({ nodeEnv: config.nodeEnv, components: ["ledger"] }, "loyalty ledger is up");

let shuttingDown = false;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) {
    logger.warn({ signal }, "second signal during shutdown; exiting now");
    process.exit(1);
  }
  shuttingDown = true;
  logger.info({ signal }, "shutting down");
  clearInterval(keepAlive);

  // A close that hangs must not keep the process alive forever: the orchestrator would then
  // kill it without the log line saying why.
  const deadline = setTimeout(() => {
    logger.error({ closeTimeoutMs: ledgerLimits.closeTimeoutMs }, "ledger close timed out");
    process.exit(1);
  }, ledgerLimits.closeTimeoutMs);
  deadline.unref();

  try {
    await ledger.close();
  } catch (error) {
    logger.error({ err: error }, "ledger close failed");
    process.exit(1);
  }
  clearTimeout(deadline);
  logger.info("stopped");
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    void shutdown(signal);
  });
}
