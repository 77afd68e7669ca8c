// The embedded brain's answers read as sentences whatever the catalog leaves out: a product without specs, sizes,
// selling points, shipping or after-sales terms gets an answer that says so, never "规格是。".
import { describe, expect, test } from "vitest";
import { Catalog, Persona } from "../proto/index.js";
import { EmbeddedBrain } from "./embedded.js";
import type { Intent, Understanding } from "./intent.js";

const bare = (language: string) =>
  Catalog.fromPartial({
    title: "t",
    language,
    currency: "CNY",
    products: [
      {
        id: "p-1",
        title: language === "zh-CN" ? "亚麻连衣裙" : "Linen dress",
        price: { currency: "CNY", amountMinor: 19900 },
        stock: 5,
      },
    ],
  });

const asked = (intent: Intent): Understanding => ({
  intent,
  productId: "p-1",
  productBy: "name",
  flags: [],
  sizes: [],
  specs: [],
  body: {},
  asksLineup: false,
});

describe("answers about what the catalog leaves out", () => {
  test.each(["zh-CN", "en"])(
    "%s: size, spec, shipping and after-sales answers have nothing empty in them",
    (language) => {
      const brain = new EmbeddedBrain(bare(language), Persona.fromPartial({ name: "小雅" }));
      for (const intent of ["size", "spec", "shipping", "aftersales"] as const) {
        const { text } = brain.answer(asked(intent));
        expect({ intent, text }).not.toMatchObject({
          text: expect.stringMatching(/[：:，,；;] ?[。.]|是。|: \.|\bis \.$/) as unknown,
        });
        expect(text.length).toBeGreaterThan(8);
      }
    },
  );

  test("with selling points and no specs, a spec answer tells the points alone", () => {
    const catalog = bare("zh-CN");
    catalog.products[0]!.sellingPoints = ["透气不闷", "可机洗"];
    const { text } = new EmbeddedBrain(catalog, Persona.fromPartial({ name: "小雅" })).answer(asked("spec"));
    expect(text).toBe("亚麻连衣裙的亮点是透气不闷、可机洗。");
  });
});
