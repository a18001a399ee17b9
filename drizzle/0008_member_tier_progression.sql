CREATE TYPE "public"."tier_source" AS ENUM('default', 'earned', 'override');--> statement-breakpoint
ALTER TABLE "member_tiers" ADD COLUMN "qualifying_value" bigint;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_source" "tier_source" DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_since" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_downgrade_tier_id" uuid;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "tier_downgrade_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "immutable" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_downgrade_fk" FOREIGN KEY ("org_id","tier_downgrade_tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "members_tier_downgrade_at_idx" ON "members" USING btree ("tier_downgrade_at") WHERE "members"."tier_downgrade_at" is not null;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_downgrade_check" CHECK (("members"."tier_downgrade_tier_id" is null) = ("members"."tier_downgrade_at" is null));