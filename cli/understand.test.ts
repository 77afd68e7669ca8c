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

  it("says which model file it cannot read", async () => {
    await using run = runCli(["models", "understand", "--model", "/nonexistent/model.onnx", "你好"]);
    expect((await run.exited()).code).not.toBe(0);
    expect(run.stderr()).toMatch(/understanding model \/nonexistent\/model\.onnx cannot be read/);
  });
});
