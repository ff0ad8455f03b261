import { Type, type Static } from '@sinclair/typebox';

/** `ws:m:report` data. */
export const MReportSchema = Type.Object(
  {
    reportId: Type.String({ minLength: 1 }),
    report: Type.Object({ tx: Type.String({ minLength: 1 }) }, { additionalProperties: true }),
    clientId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type MReport = Static<typeof MReportSchema>;

export interface ReportResponseData<R = unknown> {
  tx: string;
  response: R;
}

export interface ReportErrorData {
  tx: string;
  reportId: string;
  message: string;
}
