ALTER TYPE "public"."outbox_topic" ADD VALUE 'member.erased';--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "erased_at" timestamp with time zone;