// The AI-content label as a viewer sees it: in its corner, inside the frame, with its text drawn, at both the
// vertical and the landscape size; a label it cannot draw is refused naming the field.
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors/index.js";
import { renderOverlay, type LabelCorner } from "./overlays.js";

const corners: LabelCorner[] = ["top-left", "top-right", "bottom-left", "bottom-right"];

describe("the AI-content label", () => {
  it.each([
    [720, 1280],
    [640, 360],
  ])("sits in each corner of a %dx%d frame with its text drawn", async (width, height) => {
    for (const corner of corners) {
      const label = await renderOverlay(
        { id: "ai-label", content: { kind: "label", text: "AI 生成内容", corner }, animation: "none" },
        width,
        height,
      );
      const { image, x, y } = label;
      expect(x).toBeGreaterThan(0);
      expect(y).toBeGreaterThan(0);
      expect(x + image.width).toBeLessThan(width);
      expect(y + image.height).toBeLessThan(height);
      expect(corner.endsWith("left") ? x < width / 2 : x > width / 2).toBe(true);
      expect(corner.startsWith("top") ? y < height / 4 : y > height / 2).toBe(true);
      // White glyphs on the dark box: bright luma where the text is, the box itself dark.
      const bright = image.y.filter((luma) => luma > 200).length;
      expect(bright).toBeGreaterThan(50);
      expect(bright).toBeLessThan(image.y.length / 2);
    }
  });

  it("refuses a label that is empty, too long, or in no corner", async () => {
    for (const [content, field] of [
      [{ kind: "label", text: "" }, "overlay.content.text"],
      [{ kind: "label", text: "x".repeat(41) }, "overlay.content.text"],
      [{ kind: "label", text: "AI", corner: "middle" }, "overlay.content.corner"],
    ] as const) {
      const refused = renderOverlay({ id: "ai-label", content: content as never }, 720, 1280);
      await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(refused).rejects.toMatchObject({ field });
    }
  });
});
