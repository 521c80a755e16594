/**
 * Runs a poll function again and again: at once, then every `intervalMs`, sooner when woken (a
 * file-system notification) and immediately while the last pass stopped at its byte budget.
 * Timers are unref'd, so the loop never keeps a process alive by itself.
 */
export class PollLoop {
  readonly #run: () => Promise<{ more: boolean }>;
  readonly #intervalMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #woken = false;

  constructor(run: () => Promise<{ more: boolean }>, intervalMs: number, onError: (error: unknown) => void) {
    this.#run = run;
    this.#intervalMs = intervalMs;
    this.#onError = onError;
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Polls now (or right after the pass in progress). */
  wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#running) {
      this.#woken = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#schedule(0);
  }

  /** Stops polling and waits for the pass in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref();
  }

  #tick(): void {
    this.#woken = false;
    this.#running = this.#run()
      .then(
        ({ more }) => more || this.#woken,
        (err: unknown) => {
          try {
            this.#onError(err);
          } catch {
            // A throwing error handler must not stop the loop.
          }
          return false;
        },
      )
      .then((again) => {
        this.#running = undefined;
        this.#schedule(again ? 0 : this.#intervalMs);
      });
  }
}
