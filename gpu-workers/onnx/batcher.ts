// One loaded model, many streams: requests of concurrent streams are run as one batch (continuous batching). A
// request that finds the model idle runs at once, alone; requests that arrive while a batch runs wait for it and then
// run together, up to `maxRows` rows, so no request waits longer than the batch before it (the latency cap) and a
// busy model runs fewer, larger batches. Each request gets exactly its own rows back, in its own buffer: a stream
// never sees another's data.
/** Runs the model on `rows` rows of `rowSize` values each; returns `rows` rows of `outSize` values each. */
export type BatchRunner = (input: Float32Array, rows: number) => Promise<Float32Array>;

export interface BatcherOptions {
  rowSize: number;
  outSize: number;
  /** Rows in one batch at most (a request larger than this runs alone). */
  maxRows: number;
  run: BatchRunner;
  /** Told of every batch run: its requests, rows and seconds. */
  onBatch?: (batch: { requests: number; rows: number; seconds: number }) => void;
}

interface Pending {
  input: Float32Array;
  rows: number;
  resolve: (out: Float32Array) => void;
  reject: (err: unknown) => void;
}

export class Batcher {
  readonly #options: BatcherOptions;
  #queue: Pending[] = [];
  #running = false;

  constructor(options: BatcherOptions) {
    if (options.maxRows < 1) throw new RangeError("maxRows must be at least 1");
    this.#options = options;
  }

  /** Requests waiting for the batch in flight. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs `rows` rows (input.length = rows × rowSize) in the next batch; resolves with this request's rows only. */
  run(input: Float32Array, rows: number, signal?: AbortSignal): Promise<Float32Array> {
    if (input.length !== rows * this.#options.rowSize) {
      return Promise.reject(
        new RangeError(`expected ${rows} rows of ${this.#options.rowSize} values, got ${input.length} values`),
      );
    }
    if (rows === 0) return Promise.resolve(new Float32Array(0));
    signal?.throwIfAborted();
    return new Promise<Float32Array>((resolve, reject) => {
      const onAbort = () => {
        // Not yet in a batch: it leaves the queue. In a batch already: its rows are computed and dropped.
        const at = this.#queue.indexOf(pending);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(signal!.reason instanceof Error ? signal!.reason : new Error("aborted", { cause: signal!.reason }));
      };
      // A stream's signal lives as long as the stream and sees thousands of requests: each settled request takes
      // its listener off, or a long stream would hold every request it ever made.
      const pending: Pending = {
        input,
        rows,
        resolve: (out) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(out);
        },
        reject: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err instanceof Error ? err : new Error("the batch failed", { cause: err }));
        },
      };
      this.#queue.push(pending);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#take();
        await this.#runBatch(batch);
      }
    } finally {
      this.#running = false;
    }
  }

  /** The oldest requests that fit in maxRows rows (at least one). */
  #take(): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      if (batch.length > 0 && rows + next.rows > this.#options.maxRows) break;
      batch.push(this.#queue.shift()!);
      rows += next.rows;
    }
    return batch;
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    const { rowSize, outSize } = this.#options;
    const rows = batch.reduce((sum, p) => sum + p.rows, 0);
    let input: Float32Array;
    if (batch.length === 1) {
      input = batch[0]!.input;
    } else {
      input = new Float32Array(rows * rowSize);
      let at = 0;
      for (const p of batch) {
        input.set(p.input, at * rowSize);
        at += p.rows;
      }
    }
    const started = performance.now();
    let out: Float32Array;
    try {
      out = await this.#options.run(input, rows);
      if (out.length !== rows * outSize) {
        throw new RangeError(`the model returned ${out.length} values for ${rows} rows of ${outSize}`);
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    this.#options.onBatch?.({ requests: batch.length, rows, seconds: (performance.now() - started) / 1000 });
    let at = 0;
    for (const p of batch) {
      // A copy: the caller owns its rows, and the batch's buffer (onnxruntime's) is not kept alive by one stream.
      p.resolve(out.slice(at * outSize, (at + p.rows) * outSize));
      at += p.rows;
    }
  }
}
