import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { parseCatalog, sampleFiles } from "../brain/internal.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  AiLabel,
  AiLabel_Position,
  InterruptionPolicy,
  RoomSpec,
  ShowScript,
  ShowSettings,
  type ScriptLine,
  type Spec,
} from "../proto/index.js";
import { sampleRoomSpec } from "../testing/index.js";
import { applyUpdate, maxSpecBytes, validateRoomSpec } from "./spec.js";

/** The refusal of the sample spec changed by `change`, or undefined when it is valid. */
function refusal(change: (spec: RoomSpec) => void): InvalidArgumentError | undefined {
  const spec = sampleRoomSpec();
  change(spec);
  try {
    validateRoomSpec(spec);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
}

const product = (spec: RoomSpec) => spec.catalog!.products[0]!;
const recording = (path: string) => (spec: RoomSpec) => {
  spec.output = {
    video: { widthPx: 720, heightPx: 1280, fps: 30, bitrateKbps: 2_500 },
    audioBitrateKbps: 0,
    outputs: [{ kind: { $case: "recording", value: { path, segmentDurationS: 0 } } }],
    aiLabel: undefined,
  };
};
const rtmp = (url: string, streamKeySecret: string) => (spec: RoomSpec) => {
  spec.output = {
    video: { widthPx: 720, heightPx: 1280, fps: 30, bitrateKbps: 2_500 },
    audioBitrateKbps: 0,
    outputs: [{ kind: { $case: "rtmp", value: { url, streamKeySecret } } }],
    aiLabel: undefined,
  };
};

describe("room spec: values that name files or models", () => {
  const paths = ["../models/x", "/etc/passwd", "a/b", "a\\b", "a\u0000b", "..", "C:\\voices\\x"];

  it.each(paths)("refuses %j as a voice, persona or avatar id", (name) => {
    expect(refusal((s) => (s.voice = { voiceId: name, speed: 0 }))).toMatchObject({ field: "spec.voice.voice_id" });
    expect(refusal((s) => (s.persona!.id = name))).toMatchObject({ field: "spec.persona.id" });
    expect(refusal((s) => (s.avatar = { avatarId: name, renderer: 0 }))).toMatchObject({
      field: "spec.avatar.avatar_id",
    });
  });

  it("takes the voice ids workers announce (Piper file names among them)", () => {
    for (const voiceId of ["zh-female-warm", "en_US-livehost_synthetic-x_low", "de_DE-thorsten.v2"]) {
      expect(refusal((s) => (s.voice = { voiceId, speed: 0 }))).toBeUndefined();
    }
  });

  it.each([
    "/srv/images/cup.png",
    "../cup.png",
    "cup.png",
    "file:///etc/passwd",
    "http://cdn.example.com/cup.png",
    "https://user:secret@cdn.example.com/cup.png",
    "https://cdn.example.com/a cup.png",
    "https://cdn.example.com/\ncup.png",
    `https://cdn.example.com/${"a".repeat(2030)}`,
  ])("refuses %j as a product image (an https URL only, never a path)", (imageUri) => {
    expect(refusal((s) => (product(s).imageUri = imageUri))).toMatchObject({
      field: "spec.catalog.products[0].image_uri",
    });
  });

  it("takes an https image URL, or none", () => {
    expect(refusal((s) => (product(s).imageUri = "https://cdn.example.com/p/cup-500.png?v=2"))).toBeUndefined();
    expect(refusal((s) => (product(s).imageUri = ""))).toBeUndefined();
  });

  it("takes show settings within their range, and refuses others naming the field", () => {
    const show = (settings: Partial<ShowSettings>) => (spec: RoomSpec) =>
      (spec.show = ShowSettings.fromPartial(settings));
    expect(refusal(show({}))).toBeUndefined();
    expect(
      refusal(
        show({ interruption: InterruptionPolicy.INTERRUPTION_POLICY_AFTER_PRODUCT, answersBetweenShowSentences: 10 }),
      ),
    ).toBeUndefined();
    expect(refusal(show({ interruption: 7 as InterruptionPolicy }))).toMatchObject({ field: "spec.show.interruption" });
    expect(refusal(show({ answersBetweenShowSentences: 11 }))).toMatchObject({
      field: "spec.show.answers_between_show_sentences",
    });
  });

  it("refuses an AI-content label it cannot show, naming the field, and takes the defaults", () => {
    const label = (aiLabel: Partial<AiLabel>) => (spec: RoomSpec) => {
      recording("shop-1")(spec);
      spec.output!.aiLabel = AiLabel.fromPartial(aiLabel);
    };
    expect(refusal(label({ text: "人".repeat(41) }))).toMatchObject({ field: "spec.output.ai_label.text" });
    expect(refusal(label({ language: "fr" }))).toMatchObject({ field: "spec.output.ai_label.language" });
    expect(refusal(label({ position: 9 as AiLabel_Position }))).toMatchObject({
      field: "spec.output.ai_label.position",
    });
    expect(refusal(label({}))).toBeUndefined();
    expect(
      refusal(label({ text: "虚拟主播", language: "zh", position: AiLabel_Position.POSITION_BOTTOM_RIGHT })),
    ).toBeUndefined();
  });

  it("refuses a recording path or a stream key's secret name that leaves its directory", () => {
    for (const path of ["../elsewhere", "a\\..\\..\\b", "a\u0000b", "/abs", "x".repeat(256)]) {
      expect(refusal(recording(path))).toMatchObject({ field: "spec.output.outputs[0].recording.path" });
    }
    expect(refusal(recording("shop-1/2026"))).toBeUndefined();
    for (const secret of ["../../etc/shadow", "/run/secrets/key", "keys/../../x"]) {
      expect(refusal(rtmp("rtmp://cdn.example.com/live", secret))).toMatchObject({
        field: "spec.output.outputs[0].rtmp.stream_key_secret",
      });
    }
    expect(refusal(rtmp("rtmp://cdn.example.com/live", "livehost/room-1.key"))).toBeUndefined();
  });
});

describe("room spec: every string is bounded, in characters", () => {
  it.each<[string, (spec: RoomSpec) => void]>([
    ["spec.display_name", (s) => (s.displayName = "😀".repeat(121))],
    // An escape sequence would act on the terminal that lists rooms.
    ["spec.display_name", (s) => (s.displayName = "a\u0007b\u001b[31m")],
    ["spec.catalog.products[0].title", (s) => (product(s).title = "杯\u009b子")],
    ["spec.catalog.title", (s) => (s.catalog!.title = "题".repeat(121))],
    ["spec.catalog.language", (s) => (s.catalog!.language = `zh${"-Hans".repeat(10)}`)],
    ["spec.catalog.products[0].title", (s) => (product(s).title = "")],
    ["spec.catalog.products[0].selling_points[1]", (s) => (product(s).sellingPoints[1] = "点".repeat(201))],
    ["spec.catalog.products[0].shipping", (s) => (product(s).shipping = "快".repeat(201))],
    ["spec.catalog.products[0].after_sales", (s) => (product(s).afterSales = "退".repeat(201))],
    ["spec.catalog.products[0].specs[0].name", (s) => (product(s).specs[0]!.name = "色".repeat(65))],
    ["spec.catalog.products[0].specs[0].values[2]", (s) => (product(s).specs[0]!.values[2] = "白".repeat(201))],
    ["spec.catalog.products[0].specs[0].values", (s) => (product(s).specs[0]!.values = Array<string>(51).fill("x"))],
    ["spec.catalog.products[0].specs", (s) => (product(s).specs = Array<Spec>(51).fill({ name: "a", values: [] }))],
    ["spec.catalog.products[0].size_guide", (s) => (product(s).sizeGuide = { ["S".repeat(65)]: "fits" })],
    ["spec.catalog.products[0].size_guide[S]", (s) => (product(s).sizeGuide = { S: "身".repeat(201) })],
    ["spec.catalog.products[0].coupons[0].id", (s) => (product(s).coupons[0]!.id = "c.*")],
    ["spec.catalog.products[0].coupons[0].title", (s) => (product(s).coupons[0]!.title = "减".repeat(61))],
    ["spec.persona.name", (s) => (s.persona!.name = "雅".repeat(65))],
    ["spec.persona.language", (s) => (s.persona!.language = "not a tag")],
    ["spec.persona.catchphrases[0]", (s) => (s.persona!.catchphrases = ["宝".repeat(61)])],
    ["spec.persona.catchphrases", (s) => (s.persona!.catchphrases = Array<string>(21).fill("宝子们"))],
    ["spec.labels[merchant]", (s) => (s.labels = { merchant: "m".repeat(64) })],
    ["spec.labels", (s) => (s.labels = { ["k".repeat(64)]: "v" })],
    ["spec.output.outputs[0].rtmp.url", rtmp(`rtmp://cdn.example.com/live/${"a".repeat(2030)}`, "k")],
    ["spec.schedule.start_time", (s) => (s.schedule = { startTime: new Date(Number.NaN), endTime: undefined })],
    ["spec.catalog.products[0].restock_date", (s) => (product(s).restockDate = "2026-13-45")],
    ["spec.catalog.products[0].restock_date", (s) => (product(s).restockDate = "2027-02-29")],
  ])("%s", (field, change) => {
    const err = refusal(change);
    expect(err).toMatchObject({ field });
    // A message quotes at most a little of the caller's value.
    expect(err!.message.length).toBeLessThan(300);
  });

  it("refuses line breaks in one-line values and control characters in label keys, naming the field", () => {
    expect(refusal((s) => (s.displayName = "a\nb"))).toMatchObject({
      field: "spec.display_name",
      message: expect.stringContaining("must be one line") as unknown,
    });
    expect(refusal((s) => (product(s).title = "a\r\nb"))).toMatchObject({ field: "spec.catalog.products[0].title" });
    expect(refusal((s) => (s.persona!.name = "a\tb"))).toMatchObject({ field: "spec.persona.name" });
    expect(refusal((s) => (s.labels = { team: "a\u2028b" }))).toMatchObject({ field: "spec.labels[team]" });
    expect(refusal((s) => (s.labels = { "a\u0000b": "v" }))).toMatchObject({
      field: "spec.labels",
      message: 'spec.labels: key "a\\u0000b": must not hold control characters (U+0000 at 1)',
    });
    expect(refusal((s) => (s.labels = { "a\nb": "v" }))).toMatchObject({ field: "spec.labels" });
    // Longer texts keep their line breaks.
    expect(refusal((s) => (s.persona!.style = "warm\nplayful"))).toBeUndefined();
  });

  it("takes what is at its limits (emoji count as one character)", () => {
    expect(
      refusal((s) => {
        s.displayName = "😀".repeat(120);
        product(s).sellingPoints = Array<string>(20).fill("点".repeat(200));
        s.labels = { ["k".repeat(63)]: "v".repeat(63) };
      }),
    ).toBeUndefined();
  });

  it("takes the shipped sample catalogs, none of which names a product image other than by https", async () => {
    for (const file of [sampleFiles.catalogZh, sampleFiles.catalogEn]) {
      const catalog = parseCatalog(JSON.parse(await readFile(file, "utf8")) as unknown);
      expect(catalog.products.every((p) => p.imageUri === "" || p.imageUri.startsWith("https://"))).toBe(true);
      expect(refusal((s) => (s.catalog = catalog))).toBeUndefined();
    }
  });
});

describe("room spec: its size as a whole", () => {
  it("is refused over 512 KiB encoded, naming its largest field, though every field is within its limits", () => {
    const err = refusal((s) => {
      s.catalog!.products = Array.from({ length: 200 }, (_, i) => ({
        ...product(s),
        id: `p-${i}`,
        sellingPoints: Array<string>(20).fill("卖".repeat(200)),
      }));
    });
    expect(maxSpecBytes).toBe(512 * 1024);
    expect(err).toMatchObject({ field: "spec.catalog" });
    expect(err!.message).toMatch(
      /^spec\.catalog: the spec is \d{4} KiB encoded, over the 512 KiB a room takes; catalog is \d{4} KiB of it$/,
    );
  });
});

describe("room spec: a show written ahead", () => {
  const script = (lines: ScriptLine[]) =>
    ShowScript.fromPartial({ version: 1, author: "merchant", variations: [{ lines }] });
  const good: ScriptLine[] = [
    { kind: "opening", productId: "", text: "宝子们好，今天看两款好物。" },
    { kind: "intro", productId: "p-cup-500", text: "先看304不锈钢保温杯 500ml。" },
    { kind: "price", productId: "p-cup-500", text: "原价129元，直播间79元。" },
    { kind: "closing", productId: "", text: "这一轮就到这儿。" },
  ];

  it("takes a script the guard keeps", () => {
    expect(refusal((s) => (s.script = script(good)))).toBeUndefined();
  });

  it("refuses a bad script naming the line and why: CreateRoom and UpdateRoom answer INVALID_ARGUMENT", () => {
    const medical = [...good.slice(0, 2), { kind: "points", productId: "p-cup-500", text: "每天用它喝水能治病。" }];
    const error = refusal((s) => (s.script = script(medical)));
    expect(error).toMatchObject({ code: "invalid_argument", field: "spec.script.variations[0].lines[2].text" });
    expect(error!.message).toContain("the guard refuses it: a medical claim");
    const unknown = [...good, { kind: "price", productId: "p-phone", text: "79元。" }];
    expect(refusal((s) => (s.script = script(unknown)))).toMatchObject({
      field: "spec.script.variations[0].lines[4].product_id",
    });
    expect(refusal((s) => (s.script = ShowScript.fromPartial({ variations: [] })))).toMatchObject({
      field: "spec.script.variations",
    });
  });

  it("refuses a catalog change that leaves the script saying an old list price", () => {
    const error = refusal((s) => {
      s.script = script(good);
      product(s).originalPrice = { currency: "CNY", amountMinor: 14900 };
    });
    expect(error).toMatchObject({ field: "spec.script.variations[0].lines[2].text" });
    expect(error!.message).toContain('"129"');
  });

  it("may be replaced by UpdateRoom", () => {
    const next = applyUpdate(sampleRoomSpec(), RoomSpec.fromPartial({ script: script(good) }), ["script"]);
    expect(next.script?.variations[0]?.lines).toEqual(good);
  });
});
