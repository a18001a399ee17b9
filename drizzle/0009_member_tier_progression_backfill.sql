-- Members enrolled before tier progression: their tier took effect at their last tier history
-- row (else at enrollment), and a tier above the entry tier was assigned, so counts as earned.
UPDATE "members" AS m
SET "tier_since" = coalesce(
    (SELECT max(h."effective_at") FROM "member_tiers" AS h
      WHERE h."org_id" = m."org_id" AND h."member_id" = m."id"),
    m."created_at"),
  "tier_source" = CASE WHEN t."rank" = 0 THEN 'default'::"tier_source" ELSE 'earned'::"tier_source" END
FROM "tiers" AS t
WHERE t."org_id" = m."org_id" AND t."id" = m."tier_id";
