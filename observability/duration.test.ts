// The one duration parser: bare numbers in the option's own unit (the flags' contract), human units besides, and a
// bad value named by its field.
import { describe, expect, it } from "vitest";
import { parseDuration } from "./internal.js";

describe("parseDuration", () => {
  it("reads a bare number in the option's unit and a number with its unit", () => {
    expect(parseDuration("30", "--drain-seconds", { bare: "s" })).toBe(30_000);
    expect(parseDuration(15_000, "--reconcile-interval", { bare: "ms" })).toBe(15_000);
    expect(parseDuration("500ms", "x", { bare: "s" })).toBe(500);
    expect(parseDuration("10s", "x", { bare: "ms" })).toBe(10_000);
    expect(parseDuration(" 5m ", "x", { bare: "s" })).toBe(300_000);
    expect(parseDuration("1.5h", "x", { bare: "s" })).toBe(5_400_000);
  });

  it("names the field of a value it cannot take", () => {
    for (const value of ["", "ten", "-1", "5 minutes", "1d", "0.5ms"]) {
      expect(() => parseDuration(value, "--drain-seconds", { bare: "s" })).toThrow(
        expect.objectContaining({ field: "--drain-seconds" }),
      );
    }
    expect(() => parseDuration("50", "--reconcile-interval", { bare: "ms", minMs: 100 })).toThrow(
      "--reconcile-interval: must be a duration at least 100ms",
    );
    expect(() => parseDuration("25h", "--drain-seconds", { bare: "s", maxMs: 86_400_000 })).toThrow("from 0ms to 24h");
  });
});
