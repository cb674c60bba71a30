//! Frame encodings on the WebSocket: JSON text, or MessagePack binary when the optional
//! `@msgpack/msgpack` package is installed.

import { PushgateError } from "./error.js";
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

export const jsonCodec: Codec = {
  subprotocol: "pushgate.v1.json",
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => (typeof data === "string" ? JSON.parse(data) : undefined),
};

/** The shape of `@msgpack/msgpack` this SDK uses. */
interface MsgpackModule {
  encode(value: unknown): Uint8Array;
  decode(data: ArrayLike<number> | ArrayBuffer): unknown;
}

/** The codec `kind` names; MessagePack is imported on first use, so JSON apps never load it. */
export async function loadCodec(kind: CodecKind): Promise<Codec> {
  if (kind === "json") return jsonCodec;
  let msgpack: MsgpackModule;
  try {
    // A variable specifier keeps bundlers from making the optional package mandatory.
    const name = "@msgpack/msgpack";
    msgpack = (await import(/* @vite-ignore */ name)) as MsgpackModule;
  } catch {
    throw new PushgateError("unsupported", 'codec "msgpack" needs the @msgpack/msgpack package');
  }
  return {
    subprotocol: "pushgate.v1.msgpack",
    encode: (frame) => msgpack.encode(frame),
    decode: (data) =>
      data instanceof ArrayBuffer || ArrayBuffer.isView(data)
        ? msgpack.decode(data instanceof ArrayBuffer ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
        : undefined,
  };
}
