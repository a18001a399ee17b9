-- One index fewer on the hottest table: the primary key becomes (org_id, id), which every lookup
-- names, replacing both the key on id alone and the unique (org_id, id) that refunds refer to.
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_purchase_fk";--> statement-breakpoint
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_org_id_id_key";--> statement-breakpoint
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_pkey";--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_pkey" PRIMARY KEY("org_id","id");--> statement-breakpoint
ALTER TABLE "pos_transactions" ADD CONSTRAINT "pos_transactions_purchase_fk" FOREIGN KEY ("org_id","purchase_id") REFERENCES "public"."pos_transactions"("org_id","id") ON DELETE no action ON UPDATE no action;
