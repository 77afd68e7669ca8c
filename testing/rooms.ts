// A small valid room for tests: two products in CNY, a persona, the embedded Mandarin voice, the default avatar,
// and no outputs (add them per test).
import { RoomSpec } from "../proto/index.js";

const yuan = (amount: number) => ({ currency: "CNY", amountMinor: Math.round(amount * 100) });

export function sampleRoomSpec(overrides: Partial<RoomSpec> = {}): RoomSpec {
  return RoomSpec.fromPartial({
    displayName: "好物直播间",
    catalog: {
      title: "好物直播间 · 居家专场",
      language: "zh-CN",
      currency: "CNY",
      products: [
        {
          id: "p-cup-500",
          title: "304不锈钢保温杯 500ml",
          price: yuan(79),
          originalPrice: yuan(129),
          stock: 1200,
          specs: [{ name: "颜色", values: ["雾白", "墨绿", "燕麦"] }],
          sellingPoints: ["一键弹盖单手就能开", "放进通勤包不漏水"],
          shipping: "48小时内发货，包邮",
          afterSales: "7天无理由退换",
          coupons: [{ id: "c-cup-10", title: "满79减10", threshold: yuan(79), discount: yuan(10) }],
        },
        {
          id: "p-dress-linen",
          title: "亚麻混纺收腰连衣裙",
          price: yuan(199),
          stock: 86,
          sizeGuide: { S: "身高155-160", M: "身高160-165" },
        },
      ],
    },
    persona: { id: "xiaoya", name: "小雅", language: "zh-CN", style: "亲切、语速适中", rules: ["不说绝对化用语"] },
    voice: { voiceId: "zh-female-warm" },
    avatar: { avatarId: "default" },
    // What a room needs to go live: its frame size and an output.
    output: {
      video: { widthPx: 360, heightPx: 640, fps: 25, bitrateKbps: 800 },
      audioBitrateKbps: 0,
      outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 0, playlistLength: 0 } } }],
      aiLabel: undefined,
    },
    ...overrides,
  });
}
