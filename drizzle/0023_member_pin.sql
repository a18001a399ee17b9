ALTER TABLE "members" ADD COLUMN "pin_hash" "bytea";--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_salt" "bytea";--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "pin_locked_until" timestamp with time zone;