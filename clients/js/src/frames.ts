//! The frames of PROTOCOL.md, read from untrusted input into typed values.

/** A frame the server sends (unknown types are ignored, as the protocol asks). */
export type ServerFrame =
  | { type: "welcome"; session: string; user: string; node: string; heartbeat_ms: number; cursor: string }
  | { type: "post"; id: number; author: string; ts: number; cursor: string }
  | { type: "notify"; id: number; kind: string; data: unknown; cursor: string }
  | { type: "feed_advanced"; cursor: string; count: number }
  | { type: "resumed"; replayed: number; complete: boolean }
  | { type: "reconnect"; url: string; after_ms: number; reason: string }
  | { type: "error"; code: string; message: string }
  | { type: "pong" };

/** A frame the client sends. */
export type ClientFrame =
  | { type: "resume"; after: string }
  | { type: "refresh"; token: string }
  | { type: "ping" };

type Fields = Record<string, unknown>;

const str = (o: Fields, k: string): string | undefined => (typeof o[k] === "string" ? (o[k] as string) : undefined);
const num = (o: Fields, k: string): number | undefined => {
  const v = o[k];
  // MessagePack may hand a u64 over as a bigint.
  if (typeof v === "bigint") return Number(v);
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
};

/** The typed frame in `value`, or undefined for anything unknown or malformed. */
export function readServerFrame(value: unknown): ServerFrame | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Fields;
  switch (o["type"]) {
    case "welcome": {
      const [session, user, node, heartbeat_ms, cursor] = [str(o, "session"), str(o, "user"), str(o, "node"), num(o, "heartbeat_ms"), str(o, "cursor")];
      if (session === undefined || user === undefined || node === undefined || heartbeat_ms === undefined || cursor === undefined) return undefined;
      return { type: "welcome", session, user, node, heartbeat_ms, cursor };
    }
    case "post": {
      const [id, author, ts, cursor] = [num(o, "id"), str(o, "author"), num(o, "ts"), str(o, "cursor")];
      if (id === undefined || author === undefined || ts === undefined || cursor === undefined) return undefined;
      return { type: "post", id, author, ts, cursor };
    }
    case "notify": {
      const [id, kind, cursor] = [num(o, "id"), str(o, "kind"), str(o, "cursor")];
      if (id === undefined || kind === undefined || cursor === undefined) return undefined;
      return { type: "notify", id, kind, data: o["data"] ?? null, cursor };
    }
    case "feed_advanced": {
      const [cursor, count] = [str(o, "cursor"), num(o, "count")];
      if (cursor === undefined || count === undefined) return undefined;
      return { type: "feed_advanced", cursor, count };
    }
    case "resumed": {
      const replayed = num(o, "replayed");
      if (replayed === undefined || typeof o["complete"] !== "boolean") return undefined;
      return { type: "resumed", replayed, complete: o["complete"] };
    }
    case "reconnect": {
      const [url, after_ms, reason] = [str(o, "url"), num(o, "after_ms"), str(o, "reason")];
      if (url === undefined || after_ms === undefined) return undefined;
      return { type: "reconnect", url, after_ms, reason: reason ?? "" };
    }
    case "error": {
      const code = str(o, "code");
      if (code === undefined) return undefined;
      return { type: "error", code, message: str(o, "message") ?? "" };
    }
    case "pong":
      return { type: "pong" };
    default:
      return undefined;
  }
}
