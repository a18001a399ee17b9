CREATE TABLE "rewards" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"kind" text NOT NULL,
	"cost_points" bigint NOT NULL,
	"value_minor" bigint,
	"inventory" bigint,
	"min_tier_id" uuid,
	"active_from" timestamp with time zone,
	"active_until" timestamp with time zone,
	"per_member_limit" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rewards_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "rewards_kind_check" CHECK ("rewards"."kind" in ('item', 'voucher', 'cashback')),
	CONSTRAINT "rewards_cost_points_check" CHECK ("rewards"."cost_points" > 0),
	CONSTRAINT "rewards_value_minor_check" CHECK (("rewards"."kind" = 'item' and "rewards"."value_minor" is null) or ("rewards"."kind" <> 'item' and "rewards"."value_minor" > 0)),
	CONSTRAINT "rewards_inventory_check" CHECK ("rewards"."inventory" is null or "rewards"."inventory" >= 0),
	CONSTRAINT "rewards_per_member_limit_check" CHECK ("rewards"."per_member_limit" is null or "rewards"."per_member_limit" >= 1),
	CONSTRAINT "rewards_window_check" CHECK ("rewards"."active_from" is null or "rewards"."active_until" is null or "rewards"."active_from" < "rewards"."active_until")
);
--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_min_tier_fk" FOREIGN KEY ("org_id","min_tier_id") REFERENCES "public"."tiers"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rewards_org_id_created_at_idx" ON "rewards" USING btree ("org_id","created_at");