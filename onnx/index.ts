// onnx: writing ONNX model files without Python, for the small models the project trains itself (the synthetic
// voice and the lip-sync network in gpu-workers, the comment understanding in brain), and the seeded randomness that
// makes their training come out the same on every run.
export { DataType, encodeModel, type Node, type Tensor } from "./writer.js";
export { seededRandom } from "./random.js";
