/**
 * Version of the wire schemas in this package. Any change to a schema must
 * bump it, add a line to CHANGELOG.md, and record the new schema hash below;
 * `protocol-version.unit.test.ts` fails until all three agree.
 */
export const PROTOCOL_VERSION = '1.2.0';

/** SHA-256 of the canonical JSON of every wire schema, for PROTOCOL_VERSION. */
export const PROTOCOL_SCHEMA_HASH = 'c7250a6260689d929f129c07167fbc774ef1061051a48a17aa64b532dd99fb7b';
