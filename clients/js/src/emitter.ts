//! A tiny typed event emitter: the SDK has no runtime dependency, and Node's EventEmitter is
//! not in browsers.

type Listener = (value: never) => void;

/** Listeners per event name, typed by `Events`. */
export class Emitter<Events extends { [K in keyof Events]: (value: never) => void }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  /** Add `listener`; returns a function that removes it again. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** Call every listener of `event`; a listener that throws does not stop the others. */
  emit<K extends keyof Events>(event: K, value: Parameters<Events[K]>[0]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (value: Parameters<Events[K]>[0]) => void)(value);
      } catch (error) {
        // A bug in the app's listener must not break delivery: report it asynchronously.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
