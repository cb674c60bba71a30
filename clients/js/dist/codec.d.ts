import type { ClientFrame } from "./frames.js";
import type { CodecKind } from "./types.js";
/** One encoding and the subprotocol that names it. */
export interface Codec {
    /** Offered in `Sec-WebSocket-Protocol`. */
    readonly subprotocol: string;
    encode(frame: ClientFrame): string | Uint8Array;
    /** The decoded value of one message (validated by `readServerFrame`). */
    decode(data: unknown): unknown;
}
export declare const jsonCodec: Codec;
/** The codec `kind` names; MessagePack is imported on first use, so JSON apps never load it. */
export declare function loadCodec(kind: CodecKind): Promise<Codec>;
