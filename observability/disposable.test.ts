// Teardown in reverse order of set-up, every step run even when one fails, on every Node the project runs on.
import { describe, expect, it } from "vitest";
import { AsyncDisposableStack } from "./internal.js";

describe("AsyncDisposableStack", () => {
  it("undoes last first, runs every step when one fails, and moves its steps on", async () => {
    const done: string[] = [];
    const stack = new AsyncDisposableStack();
    stack.defer(() => void done.push("first"));
    stack.use({ [Symbol.asyncDispose]: () => Promise.resolve(void done.push("used")) });
    stack.defer(() => Promise.reject(new Error("second failed")));
    stack.adopt("third", (value) => void done.push(value));
    const moved = stack.move();
    expect(stack.disposed).toBe(true);
    await stack.disposeAsync();
    expect(done).toEqual([]);

    await expect(moved.disposeAsync()).rejects.toThrow("second failed");
    expect(done).toEqual(["third", "used", "first"]);
    expect(moved.disposed).toBe(true);
  });

  it("with await using, undoes on the way out", async () => {
    const done: string[] = [];
    {
      await using stack = new AsyncDisposableStack();
      stack.defer(() => void done.push("a"));
      stack.defer(() => void done.push("b"));
    }
    expect(done).toEqual(["b", "a"]);
  });
});
