/** A cursor's two positions: the user's own feed and the global broadcast log. */
export interface Position {
    feed: bigint;
    broadcast: bigint;
}
/** The positions of `cursor`, or undefined when it is not `"<feed>:<broadcast>"`. */
export declare function parseCursor(cursor: string): Position | undefined;
/** Whether `a` is past `b` in either position (each entry advances exactly one). */
export declare function isPast(a: Position, b: Position): boolean;
