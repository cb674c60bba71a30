/** Listeners per event name, typed by `Events`. */
export declare class Emitter<Events extends {
    [K in keyof Events]: (value: never) => void;
}> {
    private readonly listeners;
    /** Add `listener`; returns a function that removes it again. */
    on<K extends keyof Events>(event: K, listener: Events[K]): () => void;
    off<K extends keyof Events>(event: K, listener: Events[K]): void;
    /** Call every listener of `event`; a listener that throws does not stop the others. */
    emit<K extends keyof Events>(event: K, value: Parameters<Events[K]>[0]): void;
}
