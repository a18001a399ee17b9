/**
 * Re-evaluates a member's tier after every posting that can change their qualifying value: a
 * purchase (`points.earned`, also for 0 points) or a refund (`points.reversed`). Inline in the
 * `events` job, so an upgrade lands within the relay's delay of the purchase. Idempotent: an
 * evaluation reads the ledger and the member's row, so a redelivered event changes nothing.
 */
import assert from "node:assert/strict";
import { evaluateMemberOtherTiers, evaluateMemberTier } from "../../membership/index.ts";
import type { EventHandler } from "../events/handlers.ts";

export const tierEventHandler: EventHandler = {
  name: "tiers",
  topics: ["points.earned", "points.reversed"],
  async handle(deps, event) {
    const memberId = event.memberId;
    assert.ok(memberId !== null, "purchase and refund events name their member");
    const evaluation = await evaluateMemberTier(deps, { orgId: event.orgId, memberId });
    // The org's other tier sets, each with its own metric and window (set-tiers.ts).
    await evaluateMemberOtherTiers(deps, { orgId: event.orgId, memberId });
    if (evaluation.action !== "unchanged" && evaluation.action !== "skipped") {
      deps.logger.info(
        { orgId: event.orgId, memberId, action: evaluation.action },
        "tier evaluation changed the member",
      );
    }
  },
};
