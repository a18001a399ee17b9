ALTER TABLE "outbox" DROP CONSTRAINT "outbox_org_id_orgs_id_fk";
--> statement-breakpoint
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_org_id_orgs_id_fk";
--> statement-breakpoint
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_member_fk";
--> statement-breakpoint
ALTER TABLE "pos_transactions" DROP CONSTRAINT "pos_transactions_location_fk";
--> statement-breakpoint
DROP INDEX "pos_transactions_org_id_purchase_id_idx";--> statement-breakpoint
CREATE INDEX "pos_transactions_org_id_purchase_id_idx" ON "pos_transactions" USING btree ("org_id","purchase_id") WHERE "pos_transactions"."purchase_id" is not null;--> statement-breakpoint
-- The rows pos_transactions and outbox name without a foreign key are never deleted (a member is
-- closed, not deleted; its wallet lives on in the ledger): refuse it, so no reference can dangle.
CREATE FUNCTION "refuse_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never deleted', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation',
      HINT = 'close or suspend instead: ledger history and documents refer to them';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "orgs_refuse_delete" BEFORE DELETE OR TRUNCATE ON "orgs"
  FOR EACH STATEMENT EXECUTE FUNCTION "refuse_delete"();
--> statement-breakpoint
CREATE TRIGGER "members_refuse_delete" BEFORE DELETE OR TRUNCATE ON "members"
  FOR EACH STATEMENT EXECUTE FUNCTION "refuse_delete"();
--> statement-breakpoint
CREATE TRIGGER "locations_refuse_delete" BEFORE DELETE OR TRUNCATE ON "locations"
  FOR EACH STATEMENT EXECUTE FUNCTION "refuse_delete"();
--> statement-breakpoint
-- Changing a key would dangle the same references.
CREATE FUNCTION "refuse_key_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the keys of % never change', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "orgs_refuse_key_update" BEFORE UPDATE OF "id" ON "orgs"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "refuse_key_update"();
--> statement-breakpoint
CREATE TRIGGER "members_refuse_key_update" BEFORE UPDATE OF "id", "org_id" ON "members"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id" OR OLD."org_id" IS DISTINCT FROM NEW."org_id")
  EXECUTE FUNCTION "refuse_key_update"();
--> statement-breakpoint
CREATE TRIGGER "locations_refuse_key_update" BEFORE UPDATE OF "id", "org_id" ON "locations"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id" OR OLD."org_id" IS DISTINCT FROM NEW."org_id")
  EXECUTE FUNCTION "refuse_key_update"();
