CREATE TYPE "public"."adjustment_direction" AS ENUM('credit', 'debit');--> statement-breakpoint
CREATE TYPE "public"."intent_status" AS ENUM('pending', 'posted', 'failed');--> statement-breakpoint
CREATE TYPE "public"."outbox_topic" AS ENUM('member.enrolled', 'points.earned', 'points.reversed', 'points.adjusted', 'redemption.created', 'redemption.fulfilled', 'redemption.cancelled', 'tier.changed');--> statement-breakpoint
CREATE TYPE "public"."pos_transaction_kind" AS ENUM('purchase', 'refund');--> statement-breakpoint
CREATE TYPE "public"."redemption_resolution" AS ENUM('fulfil', 'cancel');--> statement-breakpoint
CREATE TYPE "public"."redemption_status" AS ENUM('pending', 'fulfilled', 'cancelled', 'expired', 'failed');--> statement-breakpoint
CREATE TABLE "adjustments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"external_id" text NOT NULL,
	"request_hash" text NOT NULL,
	"direction" "adjustment_direction" NOT NULL,
	"points" bigint NOT NULL,
	"reason" text NOT NULL,
	"status" "intent_status" DEFAULT 'pending' NOT NULL,
	"transfer_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"posted_at" timestamp with time zone,
	CONSTRAINT "adjustments_points_check" CHECK ("adjustments"."points" > 0)
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"org_id" uuid NOT NULL,
	"topic" "outbox_topic" NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pos_transactions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"kind" "pos_transaction_kind" NOT NULL,
	"external_id" text NOT NULL,
	"purchase_id" uuid,
	"request_hash" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"location_id" uuid,
	"items" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"points" bigint NOT NULL,
	"stamps" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"shortfall" bigint,
	"status" "intent_status" DEFAULT 'pending' NOT NULL,
	"transfer_ids" text[] NOT NULL,
	"response" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"posted_at" timestamp with time zone,
	CONSTRAINT "pos_transactions_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "pos_transactions_amount_minor_check" CHECK ("pos_transactions"."amount_minor" > 0),
	CONSTRAINT "pos_transactions_points_check" CHECK ("pos_transactions"."points" >= 0),
	CONSTRAINT "pos_transactions_purchase_id_check" CHECK (("pos_transactions"."kind" = 'refund') = ("pos_transactions"."purchase_id" is not null)),
	CONSTRAINT "pos_transactions_shortfall_check" CHECK ("pos_transactions"."shortfall" is null or "pos_transactions"."shortfall" >= 0)
);
--> statement-breakpoint
CREATE TABLE "redemptions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"external_id" text,
	"request_hash" text NOT NULL,
	"points" bigint NOT NULL,
	"hold_seconds" integer NOT NULL,
	"status" "redemption_status" DEFAULT 'pending' NOT NULL,
	"hold_status" "intent_status" DEFAULT 'pending' NOT NULL,
	"hold_transfer_id" text NOT NULL,
	"resolution" "redemption_resolution",
	"resolution_requested_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "redemptions_points_check" CHECK ("redemptions"."points" > 0),
	CONSTRAINT "redemptions_hold_seconds_check" CHECK ("redemptions"."hold_seconds" > 0)
);
--> statement-breakpoint
CREATE TABLE "stamp_cards" (
	"org_id" uuid NOT NULL,
	"program_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"completions" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stamp_cards_org_id_program_id_member_id_pk" PRIMARY KEY("org_id","program_id","member_id"),
	CONSTRAINT "stamp_cards_completions_check" CHECK ("stamp_cards"."completions" >= 0)
);
--> statement-breakpoint
CREATE TABLE "stamp_programs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"ledger" integer NOT NULL,
	"stamps_required" integer NOT NULL,
	"reward_points" bigint NOT NULL,
	"match_category" text,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stamp_programs_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "stamp_programs_stamps_required_check" CHECK ("stamp_programs"."stamps_required" > 0),
	CONSTRAINT "stamp_programs_reward_points_check" CHECK ("stamp_programs"."reward_points" >= 0)
);
--> statement-breakpoint
ALTER TABLE "locations" ADD COLUMN "number" integer;--> statement-breakpoint
-- Hand-written: number the locations that already exist (1, 2, ... per org, oldest first) before
-- the column becomes NOT NULL; drizzle-kit would add it NOT NULL at once and fail on any row.
UPDATE "locations" SET "number" = "numbered"."number" FROM (
	SELECT "id", row_number() OVER (PARTITION BY "org_id" ORDER BY "created_at", "id")::integer AS "number"
	FROM "locations"
) AS "numbered" WHERE "locations"."id" = "numbered"."id";--> statement-breakpoint
ALTER TABLE "locations" ALTER COLUMN "number" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "ledger_status" "intent_status" DEFAULT 'pending' NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "welcome_bonus_points" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "ledger_posted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "adjustments" ADD CONSTRAINT "adjustments_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adjustments" ADD CONSTRAINT "adjustments_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_purchase_fk" FOREIGN KEY ("org_id","purchase_id") REFERENCES "public"."pos_transactions"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_location_fk" FOREIGN KEY ("org_id","location_id") REFERENCES "public"."locations"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "redemptions" ADD CONSTRAINT "redemptions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "redemptions" ADD CONSTRAINT "redemptions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stamp_cards" ADD CONSTRAINT "stamp_cards_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stamp_cards" ADD CONSTRAINT "stamp_cards_program_fk" FOREIGN KEY ("org_id","program_id") REFERENCES "public"."stamp_programs"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stamp_cards" ADD CONSTRAINT "stamp_cards_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD CONSTRAINT "stamp_programs_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stamp_programs" ADD CONSTRAINT "stamp_programs_ledger_org_ledgers_ledger_fk" FOREIGN KEY ("ledger") REFERENCES "public"."org_ledgers"("ledger") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "adjustments_org_id_external_id_key" ON "adjustments" USING btree ("org_id","external_id");--> statement-breakpoint
CREATE INDEX "adjustments_pending_idx" ON "adjustments" USING btree ("created_at") WHERE "adjustments"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "outbox_undelivered_idx" ON "outbox" USING btree ("id") WHERE "outbox"."delivered_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_org_id_idx" ON "outbox" USING btree ("org_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "pos_transactions_org_id_kind_external_id_key" ON "pos_transactions" USING btree ("org_id","kind","external_id");--> statement-breakpoint
CREATE INDEX "pos_transactions_org_id_purchase_id_idx" ON "pos_transactions" USING btree ("org_id","purchase_id");--> statement-breakpoint
CREATE INDEX "pos_transactions_pending_idx" ON "pos_transactions" USING btree ("created_at") WHERE "pos_transactions"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "redemptions_org_id_external_id_key" ON "redemptions" USING btree ("org_id","external_id");--> statement-breakpoint
CREATE INDEX "redemptions_org_id_member_id_idx" ON "redemptions" USING btree ("org_id","member_id");--> statement-breakpoint
CREATE INDEX "redemptions_hold_pending_idx" ON "redemptions" USING btree ("created_at") WHERE "redemptions"."hold_status" = 'pending';--> statement-breakpoint
CREATE INDEX "redemptions_resolution_pending_idx" ON "redemptions" USING btree ("resolution_requested_at") WHERE "redemptions"."status" = 'pending' and "redemptions"."resolution" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "stamp_programs_ledger_key" ON "stamp_programs" USING btree ("ledger");--> statement-breakpoint
CREATE UNIQUE INDEX "locations_org_id_number_key" ON "locations" USING btree ("org_id","number");--> statement-breakpoint
CREATE INDEX "members_ledger_pending_idx" ON "members" USING btree ("created_at") WHERE "members"."ledger_status" = 'pending';--> statement-breakpoint
ALTER TABLE "locations" ADD CONSTRAINT "locations_number_check" CHECK ("locations"."number" > 0);--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_welcome_bonus_points_check" CHECK ("members"."welcome_bonus_points" >= 0);