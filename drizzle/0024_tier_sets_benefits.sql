ALTER TYPE "public"."outbox_topic" ADD VALUE 'benefit.applied';--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'benefit.revoked';--> statement-breakpoint
CREATE TABLE "benefits" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"kind" text NOT NULL,
	"value_bps" integer,
	"active_from" timestamp with time zone,
	"active_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "benefits_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "benefits_kind_check" CHECK ("benefits"."kind" in ('perk', 'points_multiplier')),
	CONSTRAINT "benefits_value_bps_check" CHECK (("benefits"."kind" = 'perk' and "benefits"."value_bps" is null) or ("benefits"."kind" = 'points_multiplier' and "benefits"."value_bps" > 0)),
	CONSTRAINT "benefits_window_check" CHECK ("benefits"."active_from" is null or "benefits"."active_until" is null or "benefits"."active_from" < "benefits"."active_until")
);
--> statement-breakpoint
CREATE TABLE "member_set_tiers" (
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"tier_set_id" uuid NOT NULL,
	"tier_id" uuid NOT NULL,
	"since" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "member_set_tiers_org_id_member_id_tier_set_id_pk" PRIMARY KEY("org_id","member_id","tier_set_id")
);
--> statement-breakpoint
CREATE TABLE "tier_benefits" (
	"org_id" uuid NOT NULL,
	"tier_id" uuid NOT NULL,
	"benefit_id" uuid NOT NULL,
	CONSTRAINT "tier_benefits_org_id_tier_id_benefit_id_pk" PRIMARY KEY("org_id","tier_id","benefit_id")
);
--> statement-breakpoint
CREATE TABLE "tier_sets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"metric" text NOT NULL,
	"window_months" integer NOT NULL,
	"grace_days" integer NOT NULL,
	"earning" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tier_sets_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "tier_sets_metric_check" CHECK ("tier_sets"."metric" in ('points', 'spend')),
	CONSTRAINT "tier_sets_window_months_check" CHECK ("tier_sets"."window_months" between 1 and 120),
	CONSTRAINT "tier_sets_grace_days_check" CHECK ("tier_sets"."grace_days" between 0 and 3660)
);
--> statement-breakpoint
DROP INDEX "tiers_org_id_rank_key";--> statement-breakpoint
DROP INDEX "tiers_org_id_name_key";--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "tier_set_id" uuid;--> statement-breakpoint
-- Backfill (hand-written): every existing org gets its default set, the earning one, with the
-- org's tier settings (their defaults when absent), and every existing tier joins it.
INSERT INTO "tier_sets" ("org_id", "name", "metric", "window_months", "grace_days", "earning")
SELECT o."id", 'Default',
  coalesce(o."settings" ->> 'tierMetric', 'points'),
  coalesce((o."settings" ->> 'tierWindowMonths')::integer, 12),
  coalesce((o."settings" ->> 'tierDowngradeGraceDays')::integer, 30),
  true
FROM "orgs" o;--> statement-breakpoint
UPDATE "tiers" t SET "tier_set_id" = s."id" FROM "tier_sets" s WHERE s."org_id" = t."org_id";--> statement-breakpoint
ALTER TABLE "tiers" ALTER COLUMN "tier_set_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_org_id_set_id_key" UNIQUE("org_id","tier_set_id","id");--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "climbable" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "active_from" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "active_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "benefits" ADD CONSTRAINT "benefits_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_set_tiers" ADD CONSTRAINT "member_set_tiers_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_set_tiers" ADD CONSTRAINT "member_set_tiers_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_set_tiers" ADD CONSTRAINT "member_set_tiers_tier_fk" FOREIGN KEY ("org_id","tier_set_id","tier_id") REFERENCES "public"."tiers"("org_id","tier_set_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_benefits" ADD CONSTRAINT "tier_benefits_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_benefits" ADD CONSTRAINT "tier_benefits_tier_fk" FOREIGN KEY ("org_id","tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_benefits" ADD CONSTRAINT "tier_benefits_benefit_fk" FOREIGN KEY ("org_id","benefit_id") REFERENCES "public"."benefits"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_sets" ADD CONSTRAINT "tier_sets_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "member_set_tiers_org_id_tier_id_idx" ON "member_set_tiers" USING btree ("org_id","tier_id");--> statement-breakpoint
CREATE INDEX "tier_benefits_org_id_benefit_id_idx" ON "tier_benefits" USING btree ("org_id","benefit_id");--> statement-breakpoint
CREATE UNIQUE INDEX "tier_sets_org_id_name_key" ON "tier_sets" USING btree ("org_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "tier_sets_org_id_earning_key" ON "tier_sets" USING btree ("org_id") WHERE "tier_sets"."earning";--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_tier_set_fk" FOREIGN KEY ("org_id","tier_set_id") REFERENCES "public"."tier_sets"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_set_rank_key" ON "tiers" USING btree ("org_id","tier_set_id","rank") WHERE "tiers"."deleted_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_set_name_key" ON "tiers" USING btree ("org_id","tier_set_id","name") WHERE "tiers"."deleted_at" is null;--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_window_check" CHECK ("tiers"."active_from" is null or "tiers"."active_until" is null or "tiers"."active_from" < "tiers"."active_until");