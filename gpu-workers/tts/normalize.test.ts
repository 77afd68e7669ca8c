import { describe, expect, it } from "vitest";
import { normalize } from "./normalize.js";
import { enNumber, zhNumber } from "./numbers.js";

const say = (text: string, lang: "zh" | "en") =>
  normalize(text, lang)
    .map((s) => s.spoken)
    .join("")
    .replace(/\s+/g, " ")
    .trim();

describe("numbers", () => {
  it.each([
    ["0", "零"],
    ["10", "十"],
    ["105", "一百零五"],
    ["1010", "一千零一十"],
    ["2000", "两千"],
    ["10086", "一万零八十六"],
    ["100010000", "一亿零一万"],
    ["1.7", "一点七"],
  ])("reads %s in Chinese as %s", (n, spoken) => expect(zhNumber(n)).toBe(spoken));

  it.each([
    ["49", "forty-nine"],
    ["1200", "twelve hundred"],
    ["1001", "one thousand one"],
    ["1000000", "one million"],
    ["0.5", "zero point five"],
  ])("reads %s in English as %s", (n, spoken) => expect(enNumber(n)).toBe(spoken));
});

describe("commerce text normalization (Mandarin)", () => {
  it.each([
    ["这个保温杯¥79", "这个保温杯七十九元"],
    ["原价￥129.9", "原价一百二十九点九元"],
    ["49.99 USD", "四十九点九九美元"],
    ["今天8折", "今天八折"],
    ["7.5折", "七五折"],
    ["30%的折扣", "百分之三十的折扣"],
    ["500ml的容量", "五百毫升的容量"],
    ["1.7L的水壶", "一点七升的水壶"],
    ["身高162cm体重52kg", "身高一百六十二厘米体重五十二公斤"],
    ["买2件", "买两件"],
    ["12月10日到货", "十二月十日到货"],
    ["2026-12-10发货", "二零二六年十二月十日发货"],
    ["晚上20:00开播", "晚上二十点开播"],
    ["电话13812345678", "电话幺三八幺二三四五六七八"],
    // A mobile as people type it: in groups, with the country code.
    ["客服电话138-0013-8000。", "客服电话幺三八零零幺三八零零零."],
    ["打138 0013 8000", "打幺三八零零幺三八零零零"],
    ["RTX4090显卡", "R T X四零九零显卡"],
    ["穿XL码", "穿X L码"],
  ])("%s → %s", (text, spoken) => expect(say(text, "zh")).toBe(spoken));

  it("hands English words in a Mandarin sentence to the English voice", () => {
    const segments = normalize("这款iPhone15很好", "zh");
    expect(segments.map((s) => [s.spoken, s.lang])).toEqual([
      ["这款", "zh"],
      ["iPhone", "en"],
      ["十五", "zh"],
      ["很好", "zh"],
    ]);
  });

  it("points every spoken segment back at the text it came from", () => {
    const text = "保温杯¥79，库存310件";
    for (const segment of normalize(text, "zh")) {
      expect(segment.sourceEnd).toBeGreaterThan(segment.sourceStart);
    }
    const price = normalize(text, "zh").find((s) => s.spoken === "七十九元")!;
    expect(text.slice(price.sourceStart, price.sourceEnd)).toBe("¥79");
  });
});

describe("commerce text normalization (English)", () => {
  it.each([
    ["The kettle is $49.99", "The kettle is forty-nine dollars and ninety-nine cents"],
    ["only $59 today", "only fifty-nine dollars today"],
    ["¥199 in China", "one hundred ninety-nine yuan in China"],
    ["49.99 USD", "forty-nine dollars and ninety-nine cents"],
    ["30% off", "thirty percent off"],
    ["1.7 L kettle", "one point seven liters kettle"],
    ["1200 W", "twelve hundred watts"],
    ["500ml bottle", "five hundred milliliters bottle"],
    ["chest 44-46 in", "chest forty-four to forty-six inches"],
    ["2700K-6500K", "twenty-seven hundred to sixty-five hundred kelvin"],
    ["Size XXL", "Size double X L"],
    ["Restocks 2026-12-10", "Restocks December tenth, twenty twenty-six"],
    ["Live at 20:00", "Live at eight P M"],
    ["Call 13812345678", "Call one three eight one two three four five six seven eight"],
    ["Call 138-0013-8000 now.", "Call one three eight zero zero one three eight zero zero zero now."],
    ["call +86 138-0013-8000", "call eight six one three eight zero zero one three eight zero zero zero"],
    ["Call 415-555-0123", "Call four one five five five five zero one two three"],
    ["Call +44 20 7946 0958", "Call four four two zero seven nine four six zero nine five eight"],
    ["model X200", "model X two hundred"],
    ["the 1st color", "the first color"],
    ["USB charging", "U S B charging"],
  ])("%s → %s", (text, spoken) => expect(say(text, "en")).toBe(spoken));
});
