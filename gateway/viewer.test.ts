import { describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eventually, startTestRoomStack } from "../testing/index.js";

describe("the viewer page", () => {
  it("serves a room's page, its HLS, its events, and takes comments", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    const { gateway, rooms, mediaDir } = stack;
    await stack.create("shop");
    await mkdir(join(mediaDir, "shop", "hls"), { recursive: true });
    await writeFile(join(mediaDir, "shop", "hls", "index.m3u8"), "#EXTM3U\n");
    const get = (path: string) => fetch(`${gateway.viewerUrl}${path}`);

    expect(await (await get("/")).text()).toContain('href="/rooms/shop"');
    const page = await (await get("/rooms/shop")).text();
    expect(page).toContain("<video");
    expect(page).toContain("/assets/hls.min.js");
    expect((await get("/assets/hls.min.js")).headers.get("content-type")).toBe("text/javascript");
    const playlist = await get("/media/shop/hls/index.m3u8");
    expect(playlist.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(await playlist.text()).toBe("#EXTM3U\n");
    expect((await get("/media/shop/hls/..%2F..%2Fsecret.m3u8")).status).toBe(404);
    expect((await get("/rooms/nobody")).status).toBe(404);

    // Events arrive as server-sent events while the page is open.
    const events = await get("/rooms/shop/events");
    const reader = events.body!.getReader();
    await rooms.request("shop", { $case: "start", value: { roomId: "shop", requestId: "" } });
    let received = "";
    while (!received.includes('"to":"ROOM_STATE_LIVE"')) {
      const { value } = (await reader.read()) as { value: Uint8Array };
      received += new TextDecoder().decode(value);
    }
    await reader.cancel();

    // Comments from the page go to the room; a bad one is refused, naming what is wrong.
    const post = (body: string) =>
      fetch(`${gateway.viewerUrl}/rooms/shop/comments`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
    expect((await post(JSON.stringify({ text: "有优惠券吗" }))).status).toBe(202);
    const bad = await post(JSON.stringify({ text: "" }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/comment.text/);
    expect((await post("not json")).status).toBe(400);
    await eventually(async () => {
      const room = await rooms.request("shop", { $case: "get", value: { roomId: "shop" } });
      expect(room.room?.status?.commentsReceived).toBe(1);
    });
  });

  it("answers for its viewers' ids: one client under many claimed ids is one viewer, and is slowed down", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    await stack.create("flood-room");
    await stack.start("flood-room");
    const url = `${stack.gateway.viewerUrl}/rooms/flood-room/comments`;
    let cookie = "";
    const post = async (viewer: string) => {
      const res = await fetch(url, {
        method: "POST",
        body: JSON.stringify({ text: `来了来了 ${viewer}`, viewer }),
        headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
      });
      cookie ||= res.headers.get("set-cookie")?.split(";")[0] ?? "";
      return {
        status: res.status,
        body: res.status === 202 ? ((await res.json()) as { viewerId: string }) : undefined,
      };
    };
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await post(`viewer-${i}`));
    const accepted = answers.filter((a) => a.status === 202);
    // The claimed ids are display names only: every accepted comment is the cookie's one viewer...
    expect(new Set(accepted.map((a) => a.body!.viewerId)).size).toBe(1);
    expect(accepted[0]!.body!.viewerId).toMatch(/^web-/);
    // ...and the client's address gets a few a second, then 429.
    expect(accepted.length).toBeLessThanOrEqual(6);
    expect(answers.at(-1)!.status).toBe(429);
    // A forged cookie proves nothing: a new viewer id is given.
    cookie = "livehost_viewer=AAAAAAAAAAAAAAAA.forgedforgedforgedforgedforgedforgedforgedfo";
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const forged = await post("viewer-forged");
    expect(forged.status).toBe(202);
    expect(forged.body!.viewerId).not.toBe("web-AAAAAAAAAAAAAAAA");
  });
});
