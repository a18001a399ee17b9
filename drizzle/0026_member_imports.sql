CREATE TYPE "public"."import_row_status" AS ENUM('staged', 'enrolled', 'skipped');--> statement-breakpoint
CREATE TYPE "public"."import_status" AS ENUM('pending', 'running', 'completed', 'failed');--> statement-breakpoint
CREATE TABLE "import_rows" (
	"import_id" uuid NOT NULL,
	"org_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"external_ref" text NOT NULL,
	"member_id" uuid NOT NULL,
	"email_encrypted" "bytea",
	"phone_encrypted" "bytea",
	"first_name_encrypted" "bytea",
	"last_name_encrypted" "bytea",
	"email_hash" "bytea",
	"phone_hash" "bytea",
	"opening_points" bigint DEFAULT 0 NOT NULL,
	"status" "import_row_status" DEFAULT 'staged' NOT NULL,
	"ledger_status" "intent_status" DEFAULT 'pending' NOT NULL,
	CONSTRAINT "import_rows_import_id_line_pk" PRIMARY KEY("import_id","line"),
	CONSTRAINT "import_rows_opening_points_check" CHECK ("import_rows"."opening_points" >= 0)
);
--> statement-breakpoint
CREATE TABLE "imports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"status" "import_status" DEFAULT 'pending' NOT NULL,
	"format" text NOT NULL,
	"rows" integer DEFAULT 0 NOT NULL,
	"enrolled" integer DEFAULT 0 NOT NULL,
	"skipped" integer DEFAULT 0 NOT NULL,
	"error_count" integer DEFAULT 0 NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"failure_reason" text,
	"actor_key_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "imports_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "imports_format_check" CHECK ("imports"."format" in ('csv', 'ndjson')),
	CONSTRAINT "imports_counts_check" CHECK ("imports"."enrolled" + "imports"."skipped" + "imports"."error_count" <= "imports"."rows")
);
--> statement-breakpoint
ALTER TABLE "import_rows" ADD CONSTRAINT "import_rows_import_fk" FOREIGN KEY ("org_id","import_id") REFERENCES "public"."imports"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "import_rows_import_id_external_ref_key" ON "import_rows" USING btree ("import_id","external_ref");--> statement-breakpoint
CREATE INDEX "import_rows_staged_idx" ON "import_rows" USING btree ("import_id","line") WHERE "import_rows"."status" = 'staged';--> statement-breakpoint
CREATE INDEX "import_rows_org_id_member_id_idx" ON "import_rows" USING btree ("org_id","member_id") WHERE "import_rows"."ledger_status" = 'posted' and "import_rows"."opening_points" > 0;--> statement-breakpoint
CREATE INDEX "import_rows_ledger_pending_idx" ON "import_rows" USING btree ("import_id","line") WHERE "import_rows"."status" = 'enrolled' and "import_rows"."ledger_status" = 'pending';--> statement-breakpoint
CREATE INDEX "imports_unfinished_idx" ON "imports" USING btree ("updated_at") WHERE "imports"."status" in ('pending', 'running');