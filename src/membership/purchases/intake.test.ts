/**
 * The purchase request's canonical text is written out by hand for speed; it must stay byte for
 * byte what the generic canonical JSON makes of the same request, or every stored request hash
 * would stop matching its retries.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../intents/support.ts";
import { purchaseRequestText } from "./intake.ts";

const text = fc.string({ unit: "binary", maxLength: 40 });
const nullableText = fc.option(text, { nil: null });

describe("purchaseRequestText", () => {
  it("equals the canonical JSON of the request, for any request", () => {
    fc.assert(
      fc.property(
        fc.record({
          externalId: text,
          memberId: nullableText,
          memberExternalRef: nullableText,
          amountMinor: fc.bigInt({ min: 1n, max: 10n ** 12n }),
          currency: text,
          occurredAt: fc.option(
            fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
            { nil: null },
          ),
          locationRef: nullableText,
          items: fc.array(
            fc.record({
              sku: text,
              category: nullableText,
              quantity: fc.integer({ min: 1, max: 10_000 }),
            }),
            { maxLength: 5 },
          ),
        }),
        (fields) => {
          const canonical = canonicalJson({
            kind: "purchase.v1",
            external_id: fields.externalId,
            member_id: fields.memberId,
            member_external_ref: fields.memberExternalRef,
            amount_minor: fields.amountMinor,
            currency: fields.currency,
            occurred_at: fields.occurredAt,
            location_ref: fields.locationRef,
            items: fields.items.map((item) => ({ ...item })),
          });
          expect(purchaseRequestText(fields)).toBe(canonical);
        },
      ),
      { numRuns: 500 },
    );
  });
});
