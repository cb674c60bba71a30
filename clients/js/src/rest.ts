//! The REST calls the client makes: where to connect, catch-up pages, post bodies, the feed.

import { PushgateError } from "./error.js";
import type { TokenKeeper } from "./token.js";
import type { FeedEntry, FeedPage, FeedQuery, Post } from "./types.js";

/** `GET /v1/connect`: the user's home node. */
export interface HomeNode {
  url: string;
  node: string;
}

/** A catch-up entry of `GET /v1/feed?since=`, oldest first, with the cursor after it. */
export type SinceEntry = FeedEntry & { cursor: string };

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
export const MAX_PAGE = 500;

/** Authenticated JSON calls against the REST base. */
export class RestClient {
  private readonly base: string;

  constructor(
    base: string,
    private readonly tokens: TokenKeeper,
    private readonly fetcher: typeof fetch,
  ) {
    this.base = base.replace(/\/+$/, "");
  }

  home(): Promise<HomeNode> {
    return this.get("/v1/connect", (v) => {
      const o = v as { url?: unknown; node?: unknown };
      return typeof o.url === "string" && typeof o.node === "string" ? { url: o.url, node: o.node } : undefined;
    });
  }

  since(cursor: string, limit = MAX_PAGE): Promise<SincePage> {
    const query = new URLSearchParams({ since: cursor, limit: String(limit) });
    return this.get(`/v1/feed?${query}`, (v) => {
      const o = v as Partial<SincePage>;
      if (!Array.isArray(o.items) || typeof o.cursor !== "string" || typeof o.complete !== "boolean") return undefined;
      return { items: o.items.filter(isSinceEntry), cursor: o.cursor, complete: o.complete, more: o.more === true };
    });
  }

  posts(ids: readonly number[]): Promise<Post[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.get(`/v1/posts?ids=${ids.map((id) => String(id)).join(",")}`, (v) => {
      const o = v as { posts?: unknown };
      return Array.isArray(o.posts) ? (o.posts as Post[]) : undefined;
    });
  }

  feed(query: FeedQuery): Promise<FeedPage> {
    const params = new URLSearchParams();
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.before !== undefined) params.set("before", query.before);
    const text = params.toString();
    const suffix = text === "" ? "" : `?${text}`;
    return this.get(`/v1/feed${suffix}`, (v) => {
      const o = v as { items?: unknown; next?: unknown };
      if (!Array.isArray(o.items)) return undefined;
      const page: FeedPage = { items: o.items as FeedEntry[] };
      if (typeof o.next === "string") page.next = o.next;
      return page;
    });
  }

  /** GET `path`; a refused token is renewed once and the call repeated. */
  private async get<T>(path: string, read: (value: unknown) => T | undefined): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.current();
      let response: Response;
      try {
        response = await this.fetcher(`${this.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      } catch (cause) {
        throw new PushgateError("network", `GET ${path}: ${String(cause)}`);
      }
      const body: unknown = await response.json().catch(() => undefined);
      if (response.ok) {
        const value = typeof body === "object" && body !== null ? read(body) : undefined;
        if (value === undefined) throw new PushgateError("bad_response", `GET ${path}: unexpected answer`, response.status);
        return value;
      }
      if (response.status === 401 && attempt === 0) {
        this.tokens.invalidate();
        continue;
      }
      const problem = (body ?? {}) as { code?: unknown; detail?: unknown };
      throw new PushgateError(
        typeof problem.code === "string" ? problem.code : "http_error",
        `GET ${path}: ${response.status} ${typeof problem.detail === "string" ? problem.detail : ""}`.trim(),
        response.status,
      );
    }
  }
}

function isSinceEntry(value: unknown): value is SinceEntry {
  if (typeof value !== "object" || value === null) return false;
  const o = value as { type?: unknown; id?: unknown; cursor?: unknown };
  return (o.type === "post" || o.type === "notify") && typeof o.id === "number" && typeof o.cursor === "string";
}
