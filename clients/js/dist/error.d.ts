/** A failure with the protocol's error code (`unauthorized`, `rate_limited`, ...) or one of
 * the SDK's own: `network` (nothing answered), `bad_response` (an answer it cannot read),
 * `unsupported` (the runtime lacks what the options ask for), `closed` (the client was closed). */
export declare class PushgateError extends Error {
    /** Lets apps branch on the cause without parsing messages. */
    readonly code: string;
    /** The HTTP status when a REST call failed, for logging and retry decisions. */
    readonly status: number | undefined;
    constructor(code: string, message: string, status?: number);
}
