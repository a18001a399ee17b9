ALTER TABLE "stamp_programs" ADD COLUMN "earn_per" text DEFAULT 'purchase' NOT NULL;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "earn_amount_min_minor" bigint;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "earn_categories" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "earn_skus" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "active_from" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "active_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
-- Programs made before earn rules existed keep earning as they did: without a category, one stamp
-- per purchase (the defaults above); with one, one stamp per unit of that category's items.
UPDATE "stamp_programs" SET "earn_per" = 'item', "earn_categories" = ARRAY["match_category"]
  WHERE "match_category" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "stamp_programs" DROP COLUMN "match_category";--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD CONSTRAINT "stamp_programs_earn_per_check" CHECK ("stamp_programs"."earn_per" in ('purchase', 'item'));--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD CONSTRAINT "stamp_programs_earn_amount_min_check" CHECK ("stamp_programs"."earn_amount_min_minor" is null or "stamp_programs"."earn_amount_min_minor" > 0);--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD CONSTRAINT "stamp_programs_window_check" CHECK ("stamp_programs"."active_from" is null or "stamp_programs"."active_until" is null or "stamp_programs"."active_from" < "stamp_programs"."active_until");