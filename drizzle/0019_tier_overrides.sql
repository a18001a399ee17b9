ALTER TABLE "member_tiers" ADD COLUMN "override_reason" text;--> statement-breakpoint
ALTER TABLE "member_tiers" ADD COLUMN "override_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_override_set_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_override_reason" text;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_override_expires_at" timestamp with time zone;--> statement-breakpoint
-- Overrides set before their reason was recorded (only through the code, never over HTTP) get
-- one, so the checks below hold for every row.
UPDATE "members" SET "tier_override_set_at" = "tier_since",
  "tier_override_reason" = 'set before override reasons were recorded'
  WHERE "tier_source" = 'override';--> statement-breakpoint
CREATE INDEX "members_tier_override_expires_at_idx" ON "members" USING btree ("tier_override_expires_at") WHERE "members"."tier_override_expires_at" is not null;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_override_set_check" CHECK (("members"."tier_source" = 'override') = ("members"."tier_override_set_at" is not null));--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_override_reason_check" CHECK (("members"."tier_override_set_at" is null) = ("members"."tier_override_reason" is null));--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_override_expires_check" CHECK ("members"."tier_override_expires_at" is null or "members"."tier_override_set_at" is not null);