/**
 * Every bound the membership module relies on, named once. The HTTP layer validates input
 * against the string limits; the pool and timeout values are passed to the driver explicitly.
 */

/** Idle pooled connections are closed after this long. */
export const poolIdleTimeoutSeconds = 30;
/** Giving up on opening a connection after this long beats hanging start-up or a request. */
export const connectTimeoutSeconds = 10;
/** Connections are recycled after this long so server-side memory and plans do not pile up. */
export const connectionLifetimeSeconds = 30 * 60;
/** `close()` waits this long for queries in flight before cutting connections. */
export const closeTimeoutSeconds = 5;
/** Creating a database and running migrations may legitimately take longer than a request. */
export const migrationStatementTimeoutMs = 120_000;

/** Longest API key token we will hash; anything longer is not ours and is refused unhashed. */
export const apiKeyTokenLengthMax = 128;
/** Characters of the token kept in `api_keys.prefix`. */
export const apiKeyPrefixLength = 12;

export const orgNameLengthMax = 200;
export const apiKeyNameLengthMax = 100;
export const externalRefLengthMax = 128;
export const emailLengthMax = 254;
export const phoneLengthMax = 32;
export const personNameLengthMax = 100;
export const tierReasonLengthMax = 200;

/** Members returned by one e-mail lookup; more than a handful means the data needs a look. */
export const membersByEmailMax = 50;
/** Tier history rows returned by one read. */
export const tierHistoryMax = 500;
/** Tiers an org may have; listing reads at most this many. */
export const tiersPerOrgMax = 32;
