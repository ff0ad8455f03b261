import { Type, type Static } from '@sinclair/typebox';

/** `ws:m:command` data: an MWrappedCommand (both directions). */
export const MCommandSchema = Type.Object(
  {
    commandId: Type.String({ minLength: 1 }),
    command: Type.Object(
      {
        tx: Type.String({ minLength: 1 }),
        createdAt: Type.Optional(Type.String()),
        userToken: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
    clientId: Type.Optional(Type.String()),
    userToken: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type MCommand = Static<typeof MCommandSchema>;

/** `ws:m:command-response` data (current dialect; seed puts tx at top level and the value in data). */
export const MCommandResponseSchema = Type.Object(
  { tx: Type.String({ minLength: 1 }), response: Type.Optional(Type.Unknown()) },
  { additionalProperties: true },
);
export interface CommandResponseData<R = unknown> {
  tx: string;
  response: R;
}

/** `ws:m:command-error` data. */
export const MCommandErrorSchema = Type.Object(
  {
    tx: Type.String({ minLength: 1 }),
    commandId: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export interface CommandErrorData {
  tx: string;
  commandId: string;
  message: string;
  code?: string;
}
