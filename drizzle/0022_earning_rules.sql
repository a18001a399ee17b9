CREATE TABLE "earning_rule_versions" (
	"org_id" uuid NOT NULL,
	"rule_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"body" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor_key_id" text,
	CONSTRAINT "earning_rule_versions_org_id_rule_id_version_pk" PRIMARY KEY("org_id","rule_id","version"),
	CONSTRAINT "earning_rule_versions_version_check" CHECK ("earning_rule_versions"."version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "earning_rules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "earning_rules_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"kind" text NOT NULL,
	"current_version" integer NOT NULL,
	"active" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "earning_rules_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "earning_rules_kind_check" CHECK ("earning_rules"."kind" in ('category_multiplier', 'sku_bonus', 'campaign')),
	CONSTRAINT "earning_rules_current_version_check" CHECK ("earning_rules"."current_version" >= 1)
);
--> statement-breakpoint
ALTER TABLE "earning_rule_versions" ADD CONSTRAINT "earning_rule_versions_rule_fk" FOREIGN KEY ("org_id","rule_id") REFERENCES "public"."earning_rules"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "earning_rules" ADD CONSTRAINT "earning_rules_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "earning_rules_seq_key" ON "earning_rules" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "earning_rules_org_id_seq_idx" ON "earning_rules" USING btree ("org_id","seq");