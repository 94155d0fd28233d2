import { Injectable } from '@nestjs/common';

/** A stream in flight; `abort` cuts it off when the grace period runs out. */
export interface InFlight {
  abort(reason: string): void;
}

export interface DrainResult {
  /** Streams that finished on their own during the grace period. */
  completed: number;
  /** Streams cut off when the grace period ran out. */
  aborted: number;
}

/**
 * Tracks in-flight chat streams and the "draining" state entered on SIGTERM: while draining,
 * new chat requests are refused (503) and the process waits for the open streams to finish.
 */
@Injectable()
export class ShutdownService {
  private readonly active = new Set<InFlight>();
  private drainingSince: number | undefined;
  private idleWaiters: Array<() => void> = [];

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  get inFlight(): number {
    return this.active.size;
  }

  /** Registers a stream; call the returned function exactly when it has ended. */
  track(stream: InFlight): () => void {
    this.active.add(stream);
    return () => {
      this.active.delete(stream);
      if (this.active.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        waiters.forEach((wake) => wake());
      }
    };
  }

  /**
   * Enters draining and resolves once every in-flight stream has ended, aborting those still
   * open after `graceMs`. Idempotent: a second call waits for the same streams.
   */
  async drain(graceMs: number): Promise<DrainResult> {
    this.drainingSince ??= Date.now();
    const initial = this.active.size;
    if (initial === 0) return { completed: 0, aborted: 0 };
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const finished = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    if (finished) return { completed: initial, aborted: 0 };
    const left = [...this.active];
    left.forEach((stream) => stream.abort('The server is shutting down; please retry.'));
    // Aborted streams end promptly (an error event, then the response ends); never hang on one.
    await Promise.race([idle, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    return { completed: initial - left.length, aborted: left.length };
  }
}
