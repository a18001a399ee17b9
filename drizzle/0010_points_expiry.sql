ALTER TYPE "public"."outbox_topic" ADD VALUE 'points.expiring';--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'points.expired';--> statement-breakpoint
CREATE TABLE "expiries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"run_date" date NOT NULL,
	"policy" text NOT NULL,
	"points" bigint NOT NULL,
	"expired_points" bigint,
	"status" "intent_status" DEFAULT 'pending' NOT NULL,
	"failure_reason" text,
	"transfer_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"posted_at" timestamp with time zone,
	CONSTRAINT "expiries_points_check" CHECK ("expiries"."points" > 0),
	CONSTRAINT "expiries_expired_points_check" CHECK ("expiries"."expired_points" is null or ("expiries"."expired_points" >= 0 and "expiries"."expired_points" <= "expiries"."points")),
	CONSTRAINT "expiries_policy_check" CHECK ("expiries"."policy" in ('inactivity', 'lots'))
);
--> statement-breakpoint
CREATE TABLE "expiry_notices" (
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"expires_on" date NOT NULL,
	"points" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "expiry_notices_org_id_member_id_expires_on_pk" PRIMARY KEY("org_id","member_id","expires_on"),
	CONSTRAINT "expiry_notices_points_check" CHECK ("expiry_notices"."points" > 0)
);
--> statement-breakpoint
ALTER TABLE "expiries" ADD CONSTRAINT "expiries_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "expiries" ADD CONSTRAINT "expiries_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "expiry_notices" ADD CONSTRAINT "expiry_notices_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "expiry_notices" ADD CONSTRAINT "expiry_notices_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "expiries_org_id_member_id_run_date_key" ON "expiries" USING btree ("org_id","member_id","run_date");--> statement-breakpoint
CREATE INDEX "expiries_pending_idx" ON "expiries" USING btree ("created_at") WHERE "expiries"."status" = 'pending';