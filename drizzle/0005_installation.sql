CREATE TABLE "installation" (
	"singleton" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"id" uuid NOT NULL,
	"pii_encryption_key_fingerprint" "bytea" NOT NULL,
	"pii_hash_key_fingerprint" "bytea" NOT NULL,
	"api_key_hash_key_fingerprint" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "installation_singleton_check" CHECK ("installation"."singleton"),
	CONSTRAINT "installation_fingerprints_check" CHECK (octet_length("installation"."pii_encryption_key_fingerprint") = 32 and octet_length("installation"."pii_hash_key_fingerprint") = 32 and octet_length("installation"."api_key_hash_key_fingerprint") = 32)
);
