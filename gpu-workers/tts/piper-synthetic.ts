// A small voice in Piper's file format (model.onnx + model.onnx.json), made by the project so the Piper path —
// onnxruntime session, phoneme id map, inference scales, chunking — runs for real in tests and the local stack.
// Its weights are SYNTHETIC, not trained: each phoneme id has a duration, a pitch and a loudness from a table, and
// the graph renders them as voiced tones (vowels) and faint buzz (consonants). It sounds like a robot humming the
// rhythm of the sentence; it is not meant to be understood. Real Piper/VITS voices load through the same code.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DataType, encodeModel, type Node, type Tensor } from "../../onnx/index.js";

export interface PiperConfig {
  audio: { sample_rate: number; quality?: string };
  espeak: { voice: string };
  inference: { noise_scale: number; length_scale: number; noise_w: number };
  phoneme_type?: string;
  phoneme_id_map: Record<string, number[]>;
  num_symbols?: number;
  num_speakers: number;
  language?: { code: string };
  dataset?: string;
  /** livehost's own fields: a stable voice id and a note on provenance. */
  livehost?: { id?: string; synthetic?: boolean; note?: string };
}

const vowels = "aeiouyæøœɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵʉʊʌ";
const marks = "ˈˌːˑ̃ʲ";
const punctuation = "!',-.:;?()";
const ipa = "bcdfghjklmnpqrstvwxzçðħŋθχɓɕɖɗɟɠɡɢɣɥɦɧɫɬɭɮɰɱɲɳɴɸɹɺɻɽɾʀʁʂʃʄʈʋʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢⱱ";

/** Piper's layout: "_" pad 0, "^" start 1, "$" end 2, " " 3, then punctuation, tone digits and IPA. */
function symbols(): string[] {
  return ["_", "^", "$", " ", ...punctuation, ..."0123456789", ...vowels, ...marks, ...ipa];
}

export function buildSyntheticPiperVoice(sampleRate = 22_050) {
  const hop = 256;
  const table = symbols();
  const duration = (s: string) =>
    s === "_"
      ? 0.01
      : s === " "
        ? 0.05
        : punctuation.includes(s)
          ? 0.16
          : vowels.includes(s)
            ? 0.09
            : marks.includes(s) || /\d/.test(s)
              ? 0.005
              : 0.05;
  const loudness = (s: string) => (vowels.includes(s) ? 0.45 : ipa.includes(s) ? 0.12 : 0);
  // Vowels hum at a speaking pitch that varies with the vowel; consonants buzz higher.
  const pitch = (s: string, i: number) => (vowels.includes(s) ? 110 + ((i * 37) % 90) : 900 + ((i * 131) % 1800));

  const f = (name: string, values: number[], dims: number[] = [values.length]): Tensor => ({
    name,
    dims,
    type: DataType.FLOAT,
    values,
  });
  const i64 = (name: string, values: number[], dims: number[] = [values.length]): Tensor => ({
    name,
    dims,
    type: DataType.INT64,
    values,
  });
  const initializers: Tensor[] = [
    // Durations in frames of `hop` samples, as VITS decoders work: positions are found per frame, then upsampled.
    f(
      "dur_table",
      table.map((s) => (duration(s) * sampleRate) / hop),
    ),
    f("amp_table", table.map(loudness)),
    f("freq_table", table.map(pitch)),
    f("two_pi_over_sr", [(2 * Math.PI) / sampleRate], []),
    f("harmonic", [2], []),
    f("harmonic_gain", [0.35], []),
    f("noise_freq", [7919.3], []),
    f("noise_gain", [0.03], []),
    i64("axis0", [0]),
    i64("axis1", [1]),
    i64("zero", [0], []),
    i64("hop", [hop], []),
    i64("expand_shape", [1, 1, hop]),
    i64("batch_flat", [0, -1]),
    i64("axis2", [2]),
    i64("axes02", [0, 2]),
    i64("one", [1], []),
    i64("scale_noise", [0], []),
    i64("scale_length", [1], []),
  ];
  const n = (op: string, inputs: string[], output: string, attributes?: Node["attributes"]): Node => ({
    op,
    inputs,
    outputs: [output],
    attributes,
  });
  // Batch-capable: input [B, N] padded, input_lengths [B]; output [B, 1, T] and output_lengths [B] so a batch can be
  // split back into utterances (standard Piper exports have no output_lengths, so they are not batched).
  const nodes: Node[] = [
    n("Gather", ["scales", "scale_length"], "length_scale"),
    n("Gather", ["scales", "scale_noise"], "noise_scale"),
    n("Shape", ["input"], "input_shape"),
    n("Gather", ["input_shape", "one"], "n_ids"),
    n("Range", ["zero", "n_ids", "one"], "id_index"),
    n("Unsqueeze", ["id_index", "axis0"], "id_index_row"),
    n("Unsqueeze", ["input_lengths", "axis1"], "lengths_col"),
    n("Less", ["id_index_row", "lengths_col"], "id_valid"),
    n("Cast", ["id_valid"], "id_valid_f", { to: DataType.FLOAT }),
    n("Gather", ["dur_table", "input"], "dur"),
    n("Mul", ["dur", "length_scale"], "dur_scaled"),
    n("Mul", ["dur_scaled", "id_valid_f"], "dur_masked"),
    n("Cast", ["dur_masked"], "dur_frames", { to: DataType.INT64 }),
    n("CumSum", ["dur_frames", "one"], "ends"),
    n("ReduceSum", ["dur_frames", "axis1"], "frames_b", { keepdims: 0 }),
    n("ReduceMax", ["frames_b"], "frames", { keepdims: 0 }),
    n("Range", ["zero", "frames", "one"], "frame"),
    n("Unsqueeze", ["frame", "axes02"], "frame_3d"),
    n("Unsqueeze", ["ends", "axis1"], "ends_3d"),
    n("GreaterOrEqual", ["frame_3d", "ends_3d"], "passed"),
    n("Cast", ["passed"], "passed_i", { to: DataType.INT64 }),
    n("ReduceSum", ["passed_i", "axis2"], "position_raw", { keepdims: 0 }),
    n("Sub", ["n_ids", "one"], "last_id"),
    n("Min", ["position_raw", "last_id"], "position"),
    n("GatherElements", ["input", "position"], "frame_ids", { axis: 1 }),
    n("Gather", ["freq_table", "frame_ids"], "frame_freq"),
    n("Gather", ["amp_table", "frame_ids"], "frame_amp_raw"),
    n("Unsqueeze", ["frame", "axis0"], "frame_row"),
    n("Unsqueeze", ["frames_b", "axis1"], "frames_col"),
    n("Less", ["frame_row", "frames_col"], "frame_valid"),
    n("Cast", ["frame_valid"], "frame_valid_f", { to: DataType.FLOAT }),
    n("Mul", ["frame_amp_raw", "frame_valid_f"], "frame_amp"),
    // Each frame's pitch and loudness held for `hop` samples.
    n("Unsqueeze", ["frame_freq", "axis2"], "freq_3d"),
    n("Expand", ["freq_3d", "expand_shape"], "freq_block"),
    n("Reshape", ["freq_block", "batch_flat"], "freq"),
    n("Unsqueeze", ["frame_amp", "axis2"], "amp_3d"),
    n("Expand", ["amp_3d", "expand_shape"], "amp_block"),
    n("Reshape", ["amp_block", "batch_flat"], "amp"),
    n("Mul", ["frames", "hop"], "total"),
    n("Range", ["zero", "total", "one"], "t"),
    n("Cast", ["t"], "t_f", { to: DataType.FLOAT }),
    n("Mul", ["t_f", "freq"], "cycles"),
    n("Mul", ["cycles", "two_pi_over_sr"], "phase"),
    n("Sin", ["phase"], "fundamental"),
    n("Mul", ["phase", "harmonic"], "phase2"),
    n("Sin", ["phase2"], "overtone_raw"),
    n("Mul", ["overtone_raw", "harmonic_gain"], "overtone"),
    n("Mul", ["t_f", "noise_freq"], "noise_phase"),
    n("Sin", ["noise_phase"], "noise_raw"),
    n("Mul", ["noise_scale", "noise_gain"], "noise_amount"),
    n("Mul", ["noise_raw", "noise_amount"], "noise"),
    n("Add", ["fundamental", "overtone"], "voiced"),
    n("Add", ["voiced", "noise"], "mixed"),
    n("Mul", ["mixed", "amp"], "wave"),
    n("Unsqueeze", ["wave", "axis1"], "output"),
    n("Mul", ["frames_b", "hop"], "output_lengths"),
  ];

  const onnx = encodeModel({
    name: "livehost-synthetic-piper",
    inputs: [
      { name: "input", type: DataType.INT64, shape: ["batch", "phonemes"] },
      { name: "input_lengths", type: DataType.INT64, shape: ["batch"] },
      { name: "scales", type: DataType.FLOAT, shape: [3] },
    ],
    outputs: [
      { name: "output", type: DataType.FLOAT, shape: ["batch", 1, "samples"] },
      { name: "output_lengths", type: DataType.INT64, shape: ["batch"] },
    ],
    nodes,
    initializers,
    metadata: {
      synthetic: "true",
      note: "Weights are synthetic tables, not trained; see gpu-workers/tts/piper-synthetic.ts",
    },
  });
  const config: PiperConfig = {
    audio: { sample_rate: sampleRate, quality: "x_low" },
    espeak: { voice: "en-us" },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: "espeak",
    phoneme_id_map: Object.fromEntries(table.map((s, i) => [s, [i]])),
    num_symbols: table.length,
    num_speakers: 1,
    language: { code: "en_US" },
    dataset: "livehost-synthetic",
    livehost: {
      id: "en-piper-synthetic",
      synthetic: true,
      note: "Made by gpu-workers/tts/piper-synthetic.ts. Synthetic weights: it hums the rhythm of speech, it is not intelligible.",
    },
  };
  return { onnx, config };
}

/** Writes `<dir>/<name>.onnx` and `<dir>/<name>.onnx.json`; returns the .onnx path. */
export async function writeSyntheticPiperVoice(dir: string, name = "en_US-livehost_synthetic-x_low"): Promise<string> {
  const { onnx, config } = buildSyntheticPiperVoice();
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.onnx`);
  await writeFile(path, onnx);
  await writeFile(`${path}.json`, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}
