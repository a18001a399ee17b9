CREATE TYPE "public"."reconciliation_status" AS ENUM('running', 'clean', 'mismatches', 'failed');--> statement-breakpoint
CREATE TYPE "public"."reconciliation_trigger" AS ENUM('manual', 'scheduled');--> statement-breakpoint
CREATE TABLE "reconciliations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"status" "reconciliation_status" DEFAULT 'running' NOT NULL,
	"trigger" "reconciliation_trigger" NOT NULL,
	"scheduled_for" date,
	"checked_documents" bigint DEFAULT 0 NOT NULL,
	"checked_transfers" bigint DEFAULT 0 NOT NULL,
	"checked_wallets" bigint DEFAULT 0 NOT NULL,
	"mismatches" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"mismatch_count" integer DEFAULT 0 NOT NULL,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "reconciliations_finished_check" CHECK (("reconciliations"."status" = 'running') = ("reconciliations"."finished_at" is null)),
	CONSTRAINT "reconciliations_scheduled_for_check" CHECK (("reconciliations"."trigger" = 'scheduled') = ("reconciliations"."scheduled_for" is not null)),
	CONSTRAINT "reconciliations_mismatch_count_check" CHECK ("reconciliations"."mismatch_count" >= 0)
);
--> statement-breakpoint
ALTER TABLE "reconciliations" ADD CONSTRAINT "reconciliations_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "reconciliations_org_id_scheduled_for_key" ON "reconciliations" USING btree ("org_id","scheduled_for");--> statement-breakpoint
CREATE INDEX "redemptions_org_id_id_idx" ON "redemptions" USING btree ("org_id","id");