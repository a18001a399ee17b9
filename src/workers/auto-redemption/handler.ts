/**
 * Automatic redemption after postings that credit a wallet: inline in the `events` job of the
 * posting's outbox event (written in the posting's mark transaction, so a crash never loses it).
 * Idempotent: the run keeps a cursor over the wallet's balance history and derives each
 * redemption's external id from its crossing, so a redelivered event redeems nothing twice.
 */
import { runAutoRedemption } from "../../membership/index.ts";
import type { EventHandler } from "../events/handlers.ts";

export const autoRedemptionHandler: EventHandler = {
  name: "auto-redemption",
  topics: ["points.earned", "points.adjusted", "points.promotion"],
  async handle(deps, event) {
    const memberId = event.memberId;
    if (memberId === null) {
      return;
    }
    const run = await runAutoRedemption(deps, { orgId: event.orgId, memberId });
    if (run.crossings > 0) {
      deps.logger.info(
        {
          orgId: event.orgId,
          memberId,
          crossings: run.crossings,
          redeemed: run.redemptions.length,
          refused: run.refused,
        },
        "automatic redemption",
      );
    }
  },
};
