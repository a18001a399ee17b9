CREATE TYPE "public"."rfm_method" AS ENUM('quintiles', 'thresholds');--> statement-breakpoint
CREATE TYPE "public"."rfm_segment" AS ENUM('Champions', 'Loyal Customers', 'Potential Loyalist', 'New Customers', 'Promising', 'Need Attention', 'About To Sleep', 'At Risk', 'Cannot Lose Them', 'Hibernating', 'Lost', 'none');--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'rfm.segment_changed';--> statement-breakpoint
CREATE TABLE "member_rfm" (
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"recency_days" integer,
	"frequency" integer NOT NULL,
	"monetary_minor" bigint NOT NULL,
	"r" smallint,
	"f" smallint,
	"m" smallint,
	"segment" "rfm_segment" NOT NULL,
	"computed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "member_rfm_pkey" PRIMARY KEY("org_id","member_id"),
	CONSTRAINT "member_rfm_scores_check" CHECK (("member_rfm"."segment" = 'none') = ("member_rfm"."r" is null) and ("member_rfm"."r" is null) = ("member_rfm"."f" is null) and ("member_rfm"."r" is null) = ("member_rfm"."m" is null) and ("member_rfm"."r" is null) = ("member_rfm"."recency_days" is null)),
	CONSTRAINT "member_rfm_score_range_check" CHECK ("member_rfm"."r" between 1 and 5 and "member_rfm"."f" between 1 and 5 and "member_rfm"."m" between 1 and 5),
	CONSTRAINT "member_rfm_counts_check" CHECK ("member_rfm"."frequency" >= 0 and ("member_rfm"."recency_days" is null or "member_rfm"."recency_days" >= 0))
);
--> statement-breakpoint
CREATE TABLE "rfm_runs" (
	"org_id" uuid PRIMARY KEY NOT NULL,
	"method" "rfm_method" NOT NULL,
	"window_days" integer NOT NULL,
	"boundaries" jsonb NOT NULL,
	"population" integer NOT NULL,
	"computed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "rfm_runs" ADD CONSTRAINT "rfm_runs_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "member_rfm_org_id_segment_idx" ON "member_rfm" USING btree ("org_id","segment","member_id");