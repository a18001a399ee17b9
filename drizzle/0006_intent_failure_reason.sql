ALTER TABLE "adjustments" ADD COLUMN "failure_reason" text;--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD COLUMN "failure_reason" text;--> statement-breakpoint
ALTER TABLE "redemptions" ADD COLUMN "failure_reason" text;--> statement-breakpoint
-- Until now only a refused debit or hold could fail, and always for want of points.
UPDATE "adjustments" SET "failure_reason" = 'insufficient_points' WHERE "status" = 'failed';--> statement-breakpoint
UPDATE "redemptions" SET "failure_reason" = 'insufficient_points' WHERE "hold_status" = 'failed';
