import { defineConfig } from "drizzle-kit";

// Generates SQL migrations from the schema (`npm run db:generate`); the app applies them with
// the migrator at start-up. `push` is not used.
// biome-ignore lint/style/noDefaultExport: drizzle-kit reads its configuration from the default export.
export default defineConfig({
  dialect: "postgresql",
  // The membership module's tables (expiry's and the webhooks' in their own files) and the HTTP
  // edge's idempotency records.
  schema: [
    "./src/membership/store/schema.ts",
    "./src/membership/store/expiry-schema.ts",
    "./src/membership/webhooks/schema.ts",
    "./src/http/schema.ts",
  ],
  out: "./drizzle",
  strict: true,
  verbose: true,
});
