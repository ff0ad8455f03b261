/**
 * Version of the wire schemas in this package. Any change to a schema must
 * bump it, add a line to CHANGELOG.md, and record the new schema hash below;
 * `protocol-version.unit.test.ts` fails until all three agree.
 */
export const PROTOCOL_VERSION = '1.1.0';

/** SHA-256 of the canonical JSON of every wire schema, for PROTOCOL_VERSION. */
export const PROTOCOL_SCHEMA_HASH = 'b25af12605a61e251ee45e9eaa0683e03185a6a1544a7287531f8d000133500c';
