import type { TokenKeeper } from "./token.js";
import type { FeedEntry, FeedPage, FeedQuery, Post } from "./types.js";
/** `GET /v1/connect`: the user's home node. */
export interface HomeNode {
    url: string;
    node: string;
}
/** A catch-up entry of `GET /v1/feed?since=`, oldest first, with the cursor after it. */
export type SinceEntry = FeedEntry & {
    cursor: string;
};
/** A page of `GET /v1/feed?since=`. */
export interface SincePage {
    items: SinceEntry[];
    /** The cursor after the page: ask again from here while `more`. */
    cursor: string;
    /** False when the feed no longer holds everything after `since`. */
    complete: boolean;
    more: boolean;
}
/** Largest page the server serves. */
export declare const MAX_PAGE = 500;
/** Authenticated JSON calls against the REST base. */
export declare class RestClient {
    private readonly tokens;
    private readonly fetcher;
    private readonly base;
    constructor(base: string, tokens: TokenKeeper, fetcher: typeof fetch);
    home(): Promise<HomeNode>;
    since(cursor: string, limit?: number): Promise<SincePage>;
    posts(ids: readonly number[]): Promise<Post[]>;
    feed(query: FeedQuery): Promise<FeedPage>;
    /** GET `path`; a refused token is renewed once and the call repeated. */
    private get;
}
