-- Hand-written: a referral code of 10 characters from the alphabet of
-- src/membership/referrals/referral-code.ts (no look-alikes), the column's default so that every
-- insert path (bulk imports included) gives a member one; enrollment draws its own.
CREATE FUNCTION gen_referral_code() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(substr('23456789ABCDEFGHJKLMNPQRSTUVWXYZ', 1 + floor(random() * 32)::int, 1), '')
    FROM generate_series(1, 10)
$$;--> statement-breakpoint
CREATE TYPE "public"."referral_status" AS ENUM('pending', 'rewarded', 'limit_reached');--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'referral.rewarded';--> statement-breakpoint
CREATE TABLE "referrals" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"referrer_member_id" uuid NOT NULL,
	"referred_member_id" uuid NOT NULL,
	"status" "referral_status" DEFAULT 'pending' NOT NULL,
	"referrer_points" bigint DEFAULT 0 NOT NULL,
	"referred_points" bigint DEFAULT 0 NOT NULL,
	"purchase_id" uuid,
	"decided_at" timestamp with time zone,
	"posting_status" "intent_status",
	"posting_requested_at" timestamp with time zone,
	"failure_reason" text,
	"referrer_transfer_id" text,
	"referred_transfer_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"posted_at" timestamp with time zone,
	CONSTRAINT "referrals_not_self_check" CHECK ("referrals"."referrer_member_id" <> "referrals"."referred_member_id"),
	CONSTRAINT "referrals_points_check" CHECK ("referrals"."referrer_points" >= 0 and "referrals"."referred_points" >= 0),
	CONSTRAINT "referrals_decision_check" CHECK (("referrals"."status" = 'pending') = ("referrals"."decided_at" is null)
        and ("referrals"."status" = 'pending') = ("referrals"."posting_status" is null)
        and ("referrals"."status" = 'pending') = ("referrals"."posting_requested_at" is null)
        and ("referrals"."status" = 'rewarded' or "referrals"."referrer_points" = 0))
);
--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "referral_code" text;--> statement-breakpoint
-- Hand-written: members enrolled before referrals get their code here (not lazily on first
-- read), 10 characters of the same alphabet as src/membership/referrals/referral-code.ts. The
-- subquery names the row so that Postgres draws new characters for every member. A collision
-- within an org (odds about n^2 / 2^51) fails the unique index below and the migration with it.
UPDATE "members" SET "referral_code" = (
  SELECT string_agg(substr('23456789ABCDEFGHJKLMNPQRSTUVWXYZ', 1 + floor(random() * 32)::int, 1), '')
    FROM generate_series(1, 10 + 0 * length("members"."external_ref"))
);--> statement-breakpoint
ALTER TABLE "members" ALTER COLUMN "referral_code" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "referrals" ADD CONSTRAINT "referrals_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "referrals" ADD CONSTRAINT "referrals_referrer_fk" FOREIGN KEY ("org_id","referrer_member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "referrals" ADD CONSTRAINT "referrals_referred_fk" FOREIGN KEY ("org_id","referred_member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "referrals_org_id_referred_member_id_key" ON "referrals" USING btree ("org_id","referred_member_id");--> statement-breakpoint
CREATE INDEX "referrals_org_id_referrer_member_id_idx" ON "referrals" USING btree ("org_id","referrer_member_id","decided_at");--> statement-breakpoint
CREATE INDEX "referrals_posting_pending_idx" ON "referrals" USING btree ("posting_requested_at") WHERE "referrals"."posting_status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "members_org_id_referral_code_key" ON "members" USING btree ("org_id","referral_code");--> statement-breakpoint
ALTER TABLE "members" ALTER COLUMN "referral_code" SET DEFAULT gen_referral_code();--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_hash" "bytea";--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_salt" "bytea";--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_locked_until" timestamp with time zone;