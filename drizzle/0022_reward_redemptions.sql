ALTER TABLE "org_ledgers" DROP CONSTRAINT "org_ledgers_unit_check";--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "reward_id" uuid;--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "quantity" integer;--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "inventory_ledger" integer;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "inventory_stocked" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "stock_moves" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "redemptions_org_id_member_id_reward_id_idx" ON "redemptions" USING btree ("org_id","member_id","reward_id") WHERE "redemptions"."reward_id" is not null;--> statement-breakpoint
ALTER TABLE "org_ledgers" ADD CONSTRAINT "org_ledgers_unit_check" CHECK ("org_ledgers"."unit" ~ '^(points|inventory|stamps:[A-Za-z0-9_-]{1,64})$');--> statement-breakpoint
ALTER TABLE "redemptions" ADD CONSTRAINT "redemptions_reward_check" CHECK (("redemptions"."reward_id" is null and "redemptions"."quantity" is null and "redemptions"."inventory_ledger" is null) or ("redemptions"."reward_id" is not null and "redemptions"."quantity" >= 1));