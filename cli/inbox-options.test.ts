// The room host's inbox bounds as an SRE passes them (flags or LIVEHOST_INBOX_* in the chart): human units in,
// StoreSettings out, a bad value refused naming its flag.
import { describe, expect, it } from "vitest";
import { compileRoomHostOptions, parseByteSize } from "./config.js";

const local = { nats: "nats://127.0.0.1:4222" };

describe("the room host's inbox options", () => {
  it("default to 1 GiB, 24 h and 256 KiB messages", () => {
    expect(compileRoomHostOptions(local).inbox).toEqual({
      mailboxMaxBytes: 1024 ** 3,
      mailboxMaxAgeMs: 24 * 3_600_000,
      mailboxMaxMessageBytes: 256 * 1024,
    });
  });

  it("take the chart's units", () => {
    const { inbox } = compileRoomHostOptions({
      ...local,
      inboxMaxBytes: "4Gi",
      inboxMaxAge: "90m",
      inboxMaxMsgSize: "64KiB",
    });
    expect(inbox).toEqual({
      mailboxMaxBytes: 4 * 1024 ** 3,
      mailboxMaxAgeMs: 90 * 60_000,
      mailboxMaxMessageBytes: 64 * 1024,
    });
    expect(parseByteSize("1048576", "x", { min: 1 })).toBe(1024 ** 2);
    expect(parseByteSize(" 512 MiB ", "x", { min: 1 })).toBe(512 * 1024 ** 2);
  });

  it.each([
    [{ inboxMaxBytes: "4GB" }, "--inbox-max-bytes"],
    [{ inboxMaxBytes: "512KiB" }, "--inbox-max-bytes"],
    [{ inboxMaxAge: "30s" }, "--inbox-max-age"],
    [{ inboxMaxMsgSize: "2MiB", inboxMaxBytes: "1MiB" }, "--inbox-max-msg-size"],
  ])("refuse %j naming %s", (options, field) => {
    expect(() => compileRoomHostOptions({ ...local, ...options })).toThrow(expect.objectContaining({ field }));
  });
});
