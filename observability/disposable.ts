// AsyncDisposableStack for teardown in reverse order of set-up: the native one where the runtime has it (Node 24),
// this small ponyfill where it does not (Node 20 and 22 have Symbol.asyncDispose but not the stack).

class AsyncDisposableStackPonyfill implements AsyncDisposableStack {
  #undo: (() => PromiseLike<void> | void)[] = [];
  #disposed = false;

  get disposed(): boolean {
    return this.#disposed;
  }

  use<T extends AsyncDisposable | Disposable | null | undefined>(value: T): T {
    if (value !== null && value !== undefined) {
      const dispose =
        (value as Partial<AsyncDisposable>)[Symbol.asyncDispose] ?? (value as Partial<Disposable>)[Symbol.dispose];
      if (typeof dispose !== "function") throw new TypeError("the value is not disposable");
      this.#push(() => dispose.call(value));
    }
    return value;
  }

  adopt<T>(value: T, onDisposeAsync: (value: T) => PromiseLike<void> | void): T {
    this.#push(() => onDisposeAsync(value));
    return value;
  }

  defer(onDisposeAsync: () => PromiseLike<void> | void): void {
    this.#push(onDisposeAsync);
  }

  move(): AsyncDisposableStack {
    if (this.#disposed) throw new ReferenceError("the stack is already disposed");
    const moved = new AsyncDisposableStackPonyfill();
    moved.#undo = this.#undo;
    this.#undo = [];
    this.#disposed = true;
    return moved;
  }

  /** Runs every callback, last added first, even when one fails; the errors are rethrown together. */
  async disposeAsync(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const undo = this.#undo.reverse();
    this.#undo = [];
    let failed = false;
    let error: unknown;
    for (const step of undo) {
      try {
        await step();
      } catch (err) {
        error = failed ? suppressed(err, error) : err;
        failed = true;
      }
    }
    if (failed) throw error;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAsync();
  }

  readonly [Symbol.toStringTag] = "AsyncDisposableStack";

  #push(step: () => PromiseLike<void> | void): void {
    if (this.#disposed) throw new ReferenceError("the stack is already disposed");
    this.#undo.push(step);
  }
}

/** An error thrown while disposing after another, as `await using` reports it (SuppressedError where it exists). */
function suppressed(error: unknown, earlier: unknown): Error {
  const Native = (globalThis as { SuppressedError?: SuppressedErrorConstructor }).SuppressedError;
  if (Native) return new Native(error, earlier);
  return Object.assign(new Error("an error was suppressed during disposal"), {
    name: "SuppressedError",
    error,
    suppressed: earlier,
  });
}

const native = (globalThis as { AsyncDisposableStack?: AsyncDisposableStackConstructor }).AsyncDisposableStack;

/** `new AsyncDisposableStack()` on every Node the project runs on; import it rather than use the global. */
export const AsyncDisposableStack: AsyncDisposableStackConstructor = native ?? AsyncDisposableStackPonyfill;
