//! The token the client holds: fetched from the app, renewed before its `exp`.

/** Renew when this share of the token's remaining life is left... */
const LEAD_SHARE = 0.2;
/** ...or this long before `exp`, whichever is shorter, */
const MAX_LEAD_MS = 60_000;
/** ...and never sooner than this from now, so a nearly expired token does not spin. */
const MIN_DELAY_MS = 1_000;

/** `exp` of a JWT in milliseconds since the epoch, or undefined when it has none. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const claims: unknown = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")));
    if (typeof claims === "object" && claims !== null && "exp" in claims) {
      const exp = (claims as { exp: unknown }).exp;
      if (typeof exp === "number" && Number.isFinite(exp)) return exp * 1000;
    }
  } catch {
    // Not a JWT we can read: the server is the judge; we just cannot renew early.
  }
  return undefined;
}

/** Caches the app's token and says when to ask for the next one. */
export class TokenKeeper {
  /** The token in use, so each connect does not call the app. */
  private token: string | undefined;
  /** When to renew it (ms since the epoch), from its `exp`. */
  private renewAt: number | undefined;
  /** A renewal in flight, shared by concurrent callers. */
  private pending: Promise<string> | undefined;

  constructor(private readonly getToken: () => Promise<string> | string) {}

  /** The current token, asking the app for one when there is none or it is due. */
  async current(): Promise<string> {
    if (this.token !== undefined && (this.renewAt === undefined || Date.now() < this.renewAt)) {
      return this.token;
    }
    return this.renew();
  }

  /** Ask the app for a new token now. */
  renew(): Promise<string> {
    this.pending ??= (async () => {
      try {
        const token = await this.getToken();
        this.token = token;
        const exp = tokenExpiry(token);
        const now = Date.now();
        this.renewAt =
          exp === undefined
            ? undefined
            : Math.max(now + MIN_DELAY_MS, exp - Math.min(MAX_LEAD_MS, (exp - now) * LEAD_SHARE));
        return token;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }

  /** The server refused the token: the next `current()` asks the app again. */
  invalidate(): void {
    this.token = undefined;
    this.renewAt = undefined;
  }

  /** Milliseconds until the token should be renewed, or undefined when it never expires. */
  msUntilRenewal(): number | undefined {
    return this.renewAt === undefined ? undefined : Math.max(0, this.renewAt - Date.now());
  }
}
