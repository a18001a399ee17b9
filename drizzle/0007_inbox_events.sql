CREATE TYPE "public"."inbox_event_status" AS ENUM('queued', 'processed', 'failed');--> statement-breakpoint
CREATE TYPE "public"."inbox_event_type" AS ENUM('pos.transaction', 'pos.refund', 'customer.updated');--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'event.processed';--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'event.failed';--> statement-breakpoint
CREATE TABLE "inbox_events" (
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "inbox_events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"org_id" uuid NOT NULL,
	"event_id" text NOT NULL,
	"event_type" "inbox_event_type" NOT NULL,
	"member_id" uuid,
	"member_external_ref" text,
	"occurred_at" timestamp with time zone NOT NULL,
	"location" text,
	"payload" jsonb NOT NULL,
	"request_hash" text NOT NULL,
	"status" "inbox_event_status" DEFAULT 'queued' NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone,
	CONSTRAINT "inbox_events_pkey" PRIMARY KEY("org_id","seq"),
	CONSTRAINT "inbox_events_member_check" CHECK (("inbox_events"."member_id" is null) <> ("inbox_events"."member_external_ref" is null)),
	CONSTRAINT "inbox_events_outcome_check" CHECK (("inbox_events"."status" = 'queued' and "inbox_events"."result" is null and "inbox_events"."error" is null and "inbox_events"."processed_at" is null) or ("inbox_events"."status" = 'processed' and "inbox_events"."result" is not null and "inbox_events"."error" is null and "inbox_events"."processed_at" is not null) or ("inbox_events"."status" = 'failed' and "inbox_events"."error" is not null and "inbox_events"."result" is null and "inbox_events"."processed_at" is not null))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_events_org_id_event_id_key" ON "inbox_events" USING btree ("org_id","event_id");--> statement-breakpoint
CREATE INDEX "inbox_events_queued_idx" ON "inbox_events" USING btree ("org_id","seq") WHERE "inbox_events"."status" = 'queued';