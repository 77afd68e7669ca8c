// Loading catalogs and personas: exact money in minor units, and errors that name the field.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { InvalidArgumentError } from "../errors/index.js";
import { loadCatalogFile, parseCatalog, parsePersonas, pickPersona, sampleFiles } from "./internal.js";

const sample = JSON.parse(readFileSync(sampleFiles.catalogEn, "utf8")) as { products: Record<string, unknown>[] };
const withProduct = (index: number, change: Record<string, unknown>) => ({
  ...sample,
  products: sample.products.map((p, i) => (i === index ? { ...p, ...change } : p)),
});

describe("catalogs", () => {
  test("the sample catalogs load with exact prices, specs and coupons", async () => {
    const en = await loadCatalogFile(sampleFiles.catalogEn);
    expect(en).toMatchObject({ title: "Home & Gadgets Live", language: "en-US", currency: "USD" });
    expect(en.products[0]).toMatchObject({
      price: { currency: "USD", amountMinor: 4999 },
      originalPrice: { currency: "USD", amountMinor: 6999 },
      coupons: [{ id: "c-kettle-5", threshold: { amountMinor: 4000 }, discount: { amountMinor: 500 } }],
    });
    expect(en.products[0]!.specs).toContainEqual({ name: "colors", values: ["matte black", "stone white"] });
    expect(en.products[2]).toMatchObject({ price: { amountMinor: 3950 }, stock: 0, restockDate: "2026-12-10" });
    const zh = await loadCatalogFile(sampleFiles.catalogZh);
    expect(zh.products[1]!.sizeGuide.M).toBe("身高160-165 体重50-55kg");
  });

  const bad: [unknown, string][] = [
    [withProduct(2, { price: "39.5" }), "catalog.products[2].price"],
    [withProduct(0, { price: 49.999 }), "catalog.products[0].price"],
    [withProduct(1, { id: "Hoodie!" }), "catalog.products[1].id"],
    [withProduct(1, { id: "p-kettle-17" }), "catalog.products[1].id"],
    [withProduct(0, { stock: 1.5 }), "catalog.products[0].stock"],
    [withProduct(2, { restockDate: "2026-13-01" }), "catalog.products[2].restockDate"],
    [withProduct(0, { originalPrice: 10 }), "catalog.products[0].originalPrice"],
    [withProduct(0, { coupons: [{ id: "c", title: "x", threshold: 1 }] }), "catalog.products[0].coupons[0].discount"],
    [withProduct(0, { specs: { colors: [1] } }), "catalog.products[0].specs.colors[0]"],
    [{ ...sample, currency: "usd" }, "catalog.currency"],
    [{ ...sample, products: [] }, "catalog.products"],
    [null, "catalog"],
  ];
  test.each(bad.map(([json, field]) => [field, json] as const))("a bad catalog is refused naming %s", (field, json) => {
    expect(() => parseCatalog(json)).toThrow(InvalidArgumentError);
    expect(() => parseCatalog(json)).toThrow(expect.objectContaining({ field }));
  });
});

describe("personas", () => {
  const personas = parsePersonas(JSON.parse(readFileSync(sampleFiles.personas, "utf8")));

  test("picked by the catalog's language, or by id", async () => {
    const zh = await loadCatalogFile(sampleFiles.catalogZh);
    expect(pickPersona(personas, zh).name).toBe("小雅");
    expect(pickPersona(personas, zh, "alex").name).toBe("Alex");
    expect(() => pickPersona(personas, zh, "nobody")).toThrow(expect.objectContaining({ field: "persona" }));
  });

  test("a bad persona names the field", () => {
    expect(() =>
      parsePersonas({ personas: [{ id: "x", name: "X", language: "en", rules: ["r".repeat(201)] }] }),
    ).toThrow(expect.objectContaining({ field: "personas.personas[0].rules[0]" }));
  });
});
