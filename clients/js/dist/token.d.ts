/** `exp` of a JWT in milliseconds since the epoch, or undefined when it has none. */
export declare function tokenExpiry(token: string): number | undefined;
/** Caches the app's token and says when to ask for the next one. */
export declare class TokenKeeper {
    private readonly getToken;
    /** The token in use, so each connect does not call the app. */
    private token;
    /** When to renew it (ms since the epoch), from its `exp`. */
    private renewAt;
    /** A renewal in flight, shared by concurrent callers. */
    private pending;
    constructor(getToken: () => Promise<string> | string);
    /** The current token, asking the app for one when there is none or it is due. */
    current(): Promise<string>;
    /** Ask the app for a new token now. */
    renew(): Promise<string>;
    /** The server refused the token: the next `current()` asks the app again. */
    invalidate(): void;
    /** Milliseconds until the token should be renewed, or undefined when it never expires. */
    msUntilRenewal(): number | undefined;
}
