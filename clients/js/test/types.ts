//! Compile-time check that the runtime constructors apps pass fit the options' types: `ws`
//! and `eventsource` in Node, the DOM's globals in browsers.

import { EventSource as NodeEventSource } from "eventsource";
import { WebSocket as NodeWebSocket } from "ws";
import { PushgateClient, type ClientOptions, type PostItem } from "../src/index.js";

const node: ClientOptions = {
  api: "http://127.0.0.1:8080",
  getToken: async () => "token",
  WebSocket: NodeWebSocket,
  EventSource: NodeEventSource,
};
const browser: ClientOptions = {
  api: "http://127.0.0.1:8080",
  getToken: () => "token",
  WebSocket: globalThis.WebSocket,
  EventSource: globalThis.EventSource,
};
const client = new PushgateClient(node);
client.on("post", (item: PostItem) => item.cursor);
new PushgateClient(browser).close();
