/**
 * Earning rules: the shared domain types, their storage with versions, and the wire body's
 * conversion to the domain (also used by the simulation route, without storing anything).
 */
export * from "./types.ts";
