CREATE TABLE "auto_redemptions" (
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"reward_id" uuid NOT NULL,
	"threshold_points" bigint NOT NULL,
	"scanned_until" bigint NOT NULL,
	"available_at_scan" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auto_redemptions_org_id_member_id_pk" PRIMARY KEY("org_id","member_id"),
	CONSTRAINT "auto_redemptions_threshold_check" CHECK ("auto_redemptions"."threshold_points" > 0),
	CONSTRAINT "auto_redemptions_available_check" CHECK ("auto_redemptions"."available_at_scan" >= 0)
);
--> statement-breakpoint
ALTER TABLE "org_ledgers" DROP CONSTRAINT "org_ledgers_unit_check";--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "reward_id" uuid;--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "quantity" integer;--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "inventory_ledger" integer;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "inventory_stocked" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "stock_moves" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_reward_fk" FOREIGN KEY ("org_id","reward_id") REFERENCES "public"."rewards"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "redemptions_org_id_member_id_reward_id_idx" ON "redemptions" USING btree ("org_id","member_id","reward_id") WHERE "redemptions"."reward_id" is not null;--> statement-breakpoint
ALTER TABLE "org_ledgers" ADD CONSTRAINT "org_ledgers_unit_check" CHECK ("org_ledgers"."unit" ~ '^(points|inventory|stamps:[A-Za-z0-9_-]{1,64})$');--> statement-breakpoint
ALTER TABLE "redemptions" ADD CONSTRAINT "redemptions_reward_check" CHECK (("redemptions"."reward_id" is null and "redemptions"."quantity" is null and "redemptions"."inventory_ledger" is null) or ("redemptions"."reward_id" is not null and "redemptions"."quantity" >= 1));