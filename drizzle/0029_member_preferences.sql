ALTER TABLE "members" ADD COLUMN "date_of_birth_encrypted" "bytea";--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "preferences" jsonb DEFAULT '{}'::jsonb NOT NULL;