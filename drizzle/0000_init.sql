CREATE TYPE "public"."api_key_role" AS ENUM('admin', 'pos', 'finance');--> statement-breakpoint
CREATE TYPE "public"."member_status" AS ENUM('active', 'suspended', 'closed');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"role" "api_key_role" NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "locations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"external_ref" text NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "locations_org_id_id_key" UNIQUE("org_id","id")
);
--> statement-breakpoint
CREATE TABLE "member_tiers" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "member_tiers_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"tier_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"effective_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "members" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"external_ref" text NOT NULL,
	"tier_id" uuid NOT NULL,
	"status" "member_status" DEFAULT 'active' NOT NULL,
	"email_encrypted" "bytea",
	"phone_encrypted" "bytea",
	"first_name_encrypted" "bytea",
	"last_name_encrypted" "bytea",
	"email_hash" "bytea",
	"phone_hash" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "members_org_id_id_key" UNIQUE("org_id","id")
);
--> statement-breakpoint
CREATE TABLE "org_ledgers" (
	"ledger" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "org_ledgers_ledger_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"org_id" uuid NOT NULL,
	"unit" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "org_ledgers_unit_check" CHECK ("org_ledgers"."unit" ~ '^(points|stamps:[A-Za-z0-9_-]{1,64})$')
);
--> statement-breakpoint
CREATE TABLE "orgs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"slug" text NOT NULL,
	"currency" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"settings" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "orgs_currency_check" CHECK ("orgs"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "orgs_slug_check" CHECK ("orgs"."slug" ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$')
);
--> statement-breakpoint
CREATE TABLE "tiers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"rank" integer NOT NULL,
	"qualifying_points_min" bigint NOT NULL,
	"multiplier_bps" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tiers_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "tiers_rank_check" CHECK ("tiers"."rank" >= 0),
	CONSTRAINT "tiers_qualifying_points_min_check" CHECK ("tiers"."qualifying_points_min" >= 0),
	CONSTRAINT "tiers_multiplier_bps_check" CHECK ("tiers"."multiplier_bps" > 0)
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locations" ADD CONSTRAINT "locations_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_tiers" ADD CONSTRAINT "member_tiers_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_tiers" ADD CONSTRAINT "member_tiers_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_tiers" ADD CONSTRAINT "member_tiers_tier_fk" FOREIGN KEY ("org_id","tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_fk" FOREIGN KEY ("org_id","tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_ledgers" ADD CONSTRAINT "org_ledgers_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash_key" ON "api_keys" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "api_keys_org_id_idx" ON "api_keys" USING btree ("org_id");--> statement-breakpoint
CREATE UNIQUE INDEX "locations_org_id_external_ref_key" ON "locations" USING btree ("org_id","external_ref");--> statement-breakpoint
CREATE INDEX "member_tiers_org_id_member_id_idx" ON "member_tiers" USING btree ("org_id","member_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "members_org_id_external_ref_key" ON "members" USING btree ("org_id","external_ref");--> statement-breakpoint
CREATE INDEX "members_org_id_email_hash_idx" ON "members" USING btree ("org_id","email_hash");--> statement-breakpoint
CREATE INDEX "members_org_id_phone_hash_idx" ON "members" USING btree ("org_id","phone_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "org_ledgers_org_id_unit_key" ON "org_ledgers" USING btree ("org_id","unit");--> statement-breakpoint
CREATE UNIQUE INDEX "orgs_slug_key" ON "orgs" USING btree ("slug");--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_org_id_rank_key" ON "tiers" USING btree ("org_id","rank");--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_org_id_name_key" ON "tiers" USING btree ("org_id","name");