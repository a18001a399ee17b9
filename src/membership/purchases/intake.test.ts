/**
 * The purchase request's canonical text is written out by hand for speed; it must stay byte for
 * byte what the generic canonical JSON makes of the same request, or every stored request hash
 * would stop matching its retries.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../intents/support.ts";
import { purchaseRequestText } from "./intake-check.ts";

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
              amount_minor: fc.option(
                fc.bigInt({ min: 0n, max: 10n ** 12n }).map((amount) => amount.toString()),
                { nil: null },
              ),
            }),
            { maxLength: 5 },
          ),
        }),
        (fields) => {
          const request = {
            external_id: fields.externalId,
            member_id: fields.memberId,
            member_external_ref: fields.memberExternalRef,
            amount_minor: fields.amountMinor,
            currency: fields.currency,
            occurred_at: fields.occurredAt,
            location_ref: fields.locationRef,
          };
          const canonical = canonicalJson({
            ...request,
            kind: "purchase.v2",
            items: fields.items.map((item) => ({ ...item })),
          });
          expect(purchaseRequestText(fields)).toBe(canonical);
          // What rows stored before line amounts were hashed were hashed from.
          const legacy = canonicalJson({
            ...request,
            kind: "purchase.v1",
            items: fields.items.map(({ amount_minor: _, ...item }) => ({ ...item })),
          });
          expect(purchaseRequestText(fields, "purchase.v1")).toBe(legacy);
        },
      ),
      { numRuns: 500 },
    );
  });
});
