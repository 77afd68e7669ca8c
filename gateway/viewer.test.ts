import { describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eventually, startTestRoomStack } from "../testing/index.js";
import { createRegistry } from "../observability/index.js";
import { startGateway } from "./internal.js";
import { chromiumOffer, launchTestChromium, webrtcAvailable } from "../media/internal.js";

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
    expect((await get("/assets/viewer.js")).headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((await get("/assets/viewer.css")).headers.get("content-type")).toMatch(/^text\/css/);
    const playlist = await get("/media/shop/hls/index.m3u8");
    expect(playlist.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(await playlist.text()).toBe("#EXTM3U\n");
    expect((await get("/media/shop/hls/..%2F..%2Fsecret.m3u8")).status).toBe(404);
    expect((await get("/rooms/nobody")).status).toBe(404);
    expect(playlist.headers.get("cache-control")).toBe("no-cache");

    // A segment is served once the playlist lists it (or one after it), and kept by players and CDNs; the one the
    // muxer still writes is not served.
    const hls = join(mediaDir, "shop", "hls");
    for (const n of [1, 2, 3]) await writeFile(join(hls, `segment-g1-0000${n}.ts`), "ts");
    await writeFile(join(hls, "index.m3u8"), "#EXTM3U\n#EXTINF:1.0,\nsegment-g1-00002.ts\n");
    const listed = await get("/media/shop/hls/segment-g1-00002.ts");
    expect(listed.status).toBe(200);
    expect(listed.headers.get("cache-control")).toBe("public, max-age=86400, immutable");
    expect((await get("/media/shop/hls/segment-g1-00001.ts")).status).toBe(200); // left the live window
    expect((await get("/media/shop/hls/segment-g1-00003.ts")).status).toBe(404); // still written

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

  it("refuses WHEP offers it cannot take with the HTTP status that says why", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    await stack.create("quiet-room");
    const whep = (path: string, init: RequestInit) => fetch(`${stack.gateway.viewerUrl}${path}`, init);
    const offer = (roomId: string, type = "application/sdp") =>
      whep(`/rooms/${roomId}/whep`, { method: "POST", body: chromiumOffer(), headers: { "content-type": type } });

    const wrongType = await offer("quiet-room", "application/json");
    expect(wrongType.status).toBe(415);
    expect(await wrongType.text()).toMatch(/application\/sdp/);
    expect((await offer("nobody")).status).toBe(404);
    const notOnAir = await offer("quiet-room");
    expect(notOnAir.status).toBe(503);
    expect(notOnAir.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await notOnAir.text()).toMatch(/not on air/);
    // No trickle ICE: every candidate is in the offer and the answer.
    const patch = await whep("/rooms/quiet-room/whep/abc", { method: "PATCH", body: "" });
    expect(patch.status).toBe(405);
    expect(patch.headers.get("allow")).toBe("DELETE");
  });

  it("serves WHEP alone for a cluster's viewers: offers and sessions, and nothing of the local page", async () => {
    await using stack = await startTestRoomStack({});
    await stack.create("quiet-room");
    await using gateway = await startGateway({
      nats: stack.nc,
      registry: createRegistry(),
      whep: { host: "127.0.0.1", port: 0 },
      auth: { development: true },
    });
    const base = gateway.whepUrl!;
    const offer = (roomId: string, type = "application/sdp") =>
      fetch(`${base}/rooms/${roomId}/whep`, {
        method: "POST",
        body: chromiumOffer(),
        headers: { "content-type": type },
      });
    expect((await offer("quiet-room", "text/plain")).status).toBe(415);
    expect((await offer("nobody")).status).toBe(404);
    expect((await offer("quiet-room")).status).toBe(503);
    expect((await fetch(`${base}/rooms/quiet-room/whep/abc`, { method: "PATCH" })).status).toBe(405);
    // A player on another origin: its preflight is answered, and it may read the answers (errors included).
    const preflight = await fetch(`${base}/rooms/quiet-room/whep`, {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(
      Object.fromEntries(
        ["allow-origin", "allow-methods", "allow-headers", "expose-headers"].map((h) => [
          h,
          preflight.headers.get(`access-control-${h}`),
        ]),
      ),
    ).toEqual({
      "allow-origin": "*",
      "allow-methods": "POST",
      "allow-headers": "content-type",
      "expose-headers": "location",
    });
    expect((await offer("nobody")).headers.get("access-control-allow-origin")).toBe("*");
    // The page, its events, comments and HLS are local mode's only.
    for (const path of [
      "/",
      "/rooms/quiet-room",
      "/rooms/quiet-room/room.json",
      "/rooms/quiet-room/events",
      "/media/quiet-room/hls/index.m3u8",
      "/assets/viewer.js",
    ]) {
      expect((await fetch(`${base}${path}`)).status).toBe(404);
    }
    const comment = await fetch(`${base}/rooms/quiet-room/comments`, {
      method: "POST",
      body: '{"text":"hi"}',
      headers: { "content-type": "application/json" },
    });
    expect(comment.status).toBe(404);
  });

  it.runIf(webrtcAvailable())(
    "plays a live room over WebRTC in Chromium, caps its viewers (503), refuses bad offers (400), ends sessions on DELETE",
    async () => {
      process.env.LIVEHOST_WEBRTC_MAX_VIEWERS = "1";
      try {
        await using stack = await startTestRoomStack({ live: true, gateway: { viewer: true } });
        await stack.create("webrtc-room", stack.liveSpec());
        await stack.start("webrtc-room");
        const base = `${stack.gateway.viewerUrl}/rooms/webrtc-room`;
        const post = (body: string) =>
          fetch(`${base}/whep`, { method: "POST", body, headers: { "content-type": "application/sdp" } });

        await using browser = await launchTestChromium();
        const page = await browser.newPage();
        await page.goto(base);
        // The page plays WebRTC (not its HLS fallback): pictures decoded, sound playing.
        await eventually(
          async () => {
            expect(await page.evaluate("window.livehostTransport")).toBe("webrtc");
            const frames = await page.evaluate<number>(
              "document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames",
            );
            expect(frames).toBeGreaterThan(10);
            const tracks = await page.evaluate<string[]>(
              "document.getElementById('video').srcObject.getTracks().filter((t) => t.readyState === 'live').map((t) => t.kind).sort()",
            );
            expect(tracks).toEqual(["audio", "video"]);
          },
          { timeoutMs: 60_000, intervalMs: 250 },
        );

        // The page holds the room's one WebRTC seat.
        const full = await post(chromiumOffer());
        expect(full.status).toBe(503);
        expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(await full.text()).toMatch(/WebRTC viewers/);
        const bad = await post(chromiumOffer().replace(/H264/g, "VP9"));
        expect(bad.status).toBe(400);
        expect(await bad.text()).toMatch(/offers no H.264/);

        // The page leaves (its session is deleted), and the seat is free again.
        await page.close();
        const created = await eventually(
          async () => {
            const res = await post(chromiumOffer());
            expect(res.status).toBe(201);
            return res;
          },
          { timeoutMs: 20_000, intervalMs: 500 },
        );
        expect(created.headers.get("content-type")).toBe("application/sdp");
        expect(await created.text()).toMatch(/^v=0/);
        const location = created.headers.get("location")!;
        expect(location).toMatch(/^\/rooms\/webrtc-room\/whep\/[A-Za-z0-9_-]+$/);
        expect((await fetch(`${stack.gateway.viewerUrl}${location}`, { method: "DELETE" })).status).toBe(200);
        expect((await fetch(`${stack.gateway.viewerUrl}${location}`, { method: "DELETE" })).status).toBe(404);
      } finally {
        delete process.env.LIVEHOST_WEBRTC_MAX_VIEWERS;
      }
    },
    120_000,
  );
});
