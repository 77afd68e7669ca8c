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
});
