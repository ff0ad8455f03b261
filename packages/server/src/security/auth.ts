import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { ServerConfig } from '../config.js';

/** Claims of a verified token; undefined = anonymous. */
export type Claims = JWTPayload & Record<string, unknown>;

export class AuthError extends Error {
  override name = 'AuthError';
  readonly code = 'MYKO_UNAUTHORIZED';
}

/**
 * JWT verification with jose: HS256 with a shared secret, or RS256/ES256 with
 * keys from a JWKS URL (fetched and cached by jose). Issuer, audience and
 * expiry are checked when configured; `exp` always when present.
 */
export class Authenticator {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: string[];

  private constructor(private readonly config: ServerConfig) {
    if (config.authJwksUrl) {
      this.key = createRemoteJWKSet(new URL(config.authJwksUrl));
      this.algorithms = ['RS256', 'ES256'];
    } else {
      this.key = new TextEncoder().encode(config.authJwtSecret);
      this.algorithms = ['HS256'];
    }
  }

  /** Undefined when authentication is off (the embedded quick start). */
  static fromConfig(config: ServerConfig): Authenticator | undefined {
    return config.authJwtSecret || config.authJwksUrl ? new Authenticator(config) : undefined;
  }

  get allowAnonymous(): boolean {
    return this.config.authAnonymous;
  }

  async verify(token: string): Promise<Claims> {
    try {
      const opts = {
        algorithms: this.algorithms,
        ...(this.config.authIssuer ? { issuer: this.config.authIssuer } : {}),
        ...(this.config.authAudience ? { audience: this.config.authAudience } : {}),
      };
      const { payload } =
        typeof this.key === 'function' ? await jwtVerify(token, this.key, opts) : await jwtVerify(token, this.key, opts);
      return payload as Claims;
    } catch (err) {
      throw new AuthError(`invalid token: ${(err as Error).message}`);
    }
  }
}

/** The handshake token: `Authorization: Bearer …` or `?access_token=…`. */
export function tokenFromRequest(headers: Record<string, string | string[] | undefined>, url: URL): string | undefined {
  const h = headers['authorization'];
  const header = Array.isArray(h) ? h[0] : h;
  const m = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return m?.[1] ?? url.searchParams.get('access_token') ?? undefined;
}
