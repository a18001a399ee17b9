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
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_redemptions" ADD CONSTRAINT "auto_redemptions_reward_fk" FOREIGN KEY ("org_id","reward_id") REFERENCES "public"."rewards"("org_id","id") ON DELETE no action ON UPDATE no action;