import { defineConfig } from "drizzle-kit";

// Generates SQL migrations from the schema (`npm run db:generate`); the app applies them with
// the migrator at start-up. `push` is not used.
// biome-ignore lint/style/noDefaultExport: drizzle-kit reads its configuration from the default export.
export default defineConfig({
  dialect: "postgresql",
  // The membership module's tables, the HTTP edge's idempotency records and the webhooks.
  schema: [
    "./src/membership/store/schema.ts",
    "./src/http/schema.ts",
    "./src/membership/webhooks/schema.ts",
  ],
  out: "./drizzle",
  strict: true,
  verbose: true,
});
