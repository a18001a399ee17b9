/**
 * Rewards a referral when the referred member's purchase has posted (`points.earned`, also for
 * 0 points: a purchase qualifies by its amount, not by what it earned). Inline in the `events`
 * job of the purchase, which the outbox relay delivers at least once, so a crash anywhere loses
 * no reward; `rewardReferral` is idempotent, so a redelivered event or a second purchase rewards
 * nothing more. A bad payload is a bug in the purchase path: asserted, never guessed around.
 */
import assert from "node:assert/strict";
import { rewardReferral } from "../../membership/index.ts";
import type { EventHandler } from "../events/handlers.ts";

const minorUnitsPattern = /^(0|[1-9][0-9]{0,18})$/;

export const referralEventHandler: EventHandler = {
  name: "referrals",
  topics: ["points.earned"],
  async handle(deps, event) {
    const memberId = event.memberId;
    assert.ok(memberId !== null, "purchase events name their member");
    const purchaseId = event.payload.transaction_id;
    const amount = event.payload.amount_minor;
    assert.ok(typeof purchaseId === "string", "points.earned names its transaction");
    assert.ok(typeof amount === "string" && minorUnitsPattern.test(amount), "amount_minor");
    const outcome = await rewardReferral(deps, {
      orgId: event.orgId,
      memberId,
      purchaseId,
      amountMinor: BigInt(amount),
    });
    if (outcome.kind === "decided") {
      deps.logger.info(
        { orgId: event.orgId, referralId: outcome.referral.id, status: outcome.referral.status },
        "referral decided",
      );
    }
  },
};
