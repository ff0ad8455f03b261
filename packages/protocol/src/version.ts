/**
 * Version of the wire schemas in this package. Any change to a schema must
 * bump it, add a line to CHANGELOG.md, and record the new schema hash below;
 * `protocol-version.unit.test.ts` fails until all three agree.
 */
export const PROTOCOL_VERSION = '1.2.0';

/** SHA-256 of the canonical JSON of every wire schema, for PROTOCOL_VERSION. */
export const PROTOCOL_SCHEMA_HASH = '8f425a92ec4e10b41b5d64d59f3437621ae7faf141066f0dd7d1ebb58b907bd0';
