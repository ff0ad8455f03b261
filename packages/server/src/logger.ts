import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; one line per connection open/close and per error, quiet otherwise. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'myko' } });
}
