//! Comparing cursors. Apps treat a cursor as opaque; the SDK reads it only to stop a
//! `feed_advanced` catch-up at the position the server named, so no entry that follows live
//! is emitted twice.

/** A cursor's two positions: the user's own feed and the global broadcast log. */
export interface Position {
  feed: bigint;
  broadcast: bigint;
}

const CURSOR = /^(\d+):(\d+)$/;

/** The positions of `cursor`, or undefined when it is not `"<feed>:<broadcast>"`. */
export function parseCursor(cursor: string): Position | undefined {
  const match = CURSOR.exec(cursor);
  if (!match) return undefined;
  // Each part is a u64 on the server: bigint keeps values past 2^53 exact.
  return { feed: BigInt(match[1] as string), broadcast: BigInt(match[2] as string) };
}

/** Whether `a` is past `b` in either position (each entry advances exactly one). */
export function isPast(a: Position, b: Position): boolean {
  return a.feed > b.feed || a.broadcast > b.broadcast;
}
