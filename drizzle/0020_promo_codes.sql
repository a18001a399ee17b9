ALTER TYPE "public"."outbox_topic" ADD VALUE 'points.promotion';--> statement-breakpoint
CREATE TABLE "code_redemptions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"code_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"points" bigint NOT NULL,
	"status" "intent_status" DEFAULT 'pending' NOT NULL,
	"failure_reason" text,
	"transfer_id" text NOT NULL,
	"actor_key_id" text,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"posted_at" timestamp with time zone,
	CONSTRAINT "code_redemptions_points_check" CHECK ("code_redemptions"."points" > 0)
);
--> statement-breakpoint
CREATE TABLE "codes" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"code_hash" "bytea" NOT NULL,
	"prefix" text NOT NULL,
	"points" bigint NOT NULL,
	"max_uses_total" bigint,
	"uses" bigint DEFAULT 0 NOT NULL,
	"once_per_member" boolean DEFAULT true NOT NULL,
	"valid_from" timestamp with time zone,
	"valid_until" timestamp with time zone,
	"min_tier_id" uuid,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "codes_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "codes_points_check" CHECK ("codes"."points" > 0),
	CONSTRAINT "codes_max_uses_total_check" CHECK ("codes"."max_uses_total" is null or "codes"."max_uses_total" > 0),
	CONSTRAINT "codes_uses_check" CHECK ("codes"."uses" >= 0),
	CONSTRAINT "codes_uses_within_max_check" CHECK ("codes"."max_uses_total" is null or "codes"."uses" <= "codes"."max_uses_total"),
	CONSTRAINT "codes_once_per_member_check" CHECK ("codes"."once_per_member"),
	CONSTRAINT "codes_prefix_check" CHECK ("codes"."prefix" ~ '^[A-Z0-9-]{3}$'),
	CONSTRAINT "codes_code_hash_check" CHECK (octet_length("codes"."code_hash") = 32),
	CONSTRAINT "codes_window_check" CHECK ("codes"."valid_from" is null or "codes"."valid_until" is null or "codes"."valid_from" < "codes"."valid_until")
);
--> statement-breakpoint
ALTER TABLE "code_redemptions" ADD CONSTRAINT "code_redemptions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "code_redemptions" ADD CONSTRAINT "code_redemptions_code_fk" FOREIGN KEY ("org_id","code_id") REFERENCES "public"."codes"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "code_redemptions" ADD CONSTRAINT "code_redemptions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "codes" ADD CONSTRAINT "codes_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "codes" ADD CONSTRAINT "codes_min_tier_fk" FOREIGN KEY ("org_id","min_tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "code_redemptions_org_id_code_id_member_id_key" ON "code_redemptions" USING btree ("org_id","code_id","member_id");--> statement-breakpoint
CREATE UNIQUE INDEX "code_redemptions_transfer_id_key" ON "code_redemptions" USING btree ("transfer_id");--> statement-breakpoint
CREATE INDEX "code_redemptions_pending_idx" ON "code_redemptions" USING btree ("created_at") WHERE "code_redemptions"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "codes_org_id_code_hash_key" ON "codes" USING btree ("org_id","code_hash");--> statement-breakpoint
CREATE INDEX "codes_org_id_created_at_idx" ON "codes" USING btree ("org_id","created_at");