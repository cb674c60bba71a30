/** Pings on an interval and calls `dead` once after too long without inbound traffic. */
export declare class Heartbeat {
    private readonly dead;
    /** The ping interval. */
    private readonly pinger;
    /** The silence check, re-armed for the moment silence would reach the limit. */
    private watchdog;
    /** When anything last arrived. */
    private lastSeen;
    /** The silence that counts as dead. */
    private readonly limitMs;
    constructor(intervalMs: number, graceMs: number, ping: () => void, dead: () => void);
    /** Something arrived: the connection is alive. */
    seen(): void;
    stop(): void;
    private arm;
}
