// `livehost models understand`: how rooms read a comment, for whoever is asked why theirs was blocked or misread.
import { describe, expect, it } from "vitest";
import { runCli } from "../testing/index.js";

describe("livehost models understand", () => {
  it("prints each comment's decision, reason or intent, and what the model saw", async () => {
    await using run = runCli([
      "models",
      "understand",
      "--json",
      "保温杯多少钱",
      "我的手机号13812345678，帮我留一件",
      "点击 http://spam.example/xx 领红包",
      "hi\u0007",
    ]);
    expect(await run.exited()).toEqual({ code: 0, signal: null });
    const lines = run
      .stdout()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { decision: "allow", intent: "price" },
      { decision: "mask", intent: "stock", masked: "我的手机号***，帮我留一件" },
      { decision: "block", reason: "spam", by: "rule" },
      { decision: "reject", reason: "control_characters" },
    ]);
  });

  it("says which model file it cannot read or load, on one line, as a bad argument (exit 2)", async () => {
    await using run = runCli(["models", "understand", "--model", "/nonexistent/model.onnx", "你好"]);
    expect((await run.exited()).code).toBe(2);
    expect(run.stderr()).toMatch(/^livehost: --model: understanding model \/nonexistent\/model\.onnx cannot be read/);
    // A file that is not a model: its path and onnxruntime's reason, no stack.
    await using notModel = runCli(["models", "understand", "--model", "package.json", "你好"]);
    expect((await notModel.exited()).code).toBe(2);
    expect(notModel.stderr()).toMatch(/^livehost: --model: understanding model package\.json is not an ONNX model/);
    expect(notModel.stderr().trim().split("\n")).toHaveLength(1);
  });
});
