// The mouth shapes an avatar pack holds, in the order of its atlas (one image per viseme). The lip-sync model
// predicts these ids and the room shows their images; gpu-workers/lipsync/visemes.ts maps phonemes onto them.

export const Viseme = {
  rest: 0,
  /** a, ɑ, æ, ʌ: jaw open. */
  open: 1,
  /** e, ɛ, i, ɪ, ə: lips spread, half open. */
  spread: 2,
  /** o, ɔ: rounded, open. */
  round: 3,
  /** u, w, y: rounded, nearly closed (pucker). */
  pucker: 4,
  /** m, b, p: lips closed. */
  closed: 5,
  /** f, v: lower lip to teeth. */
  labiodental: 6,
  /** t, d, n, l, θ, ð, ɾ: tongue tip, jaw slightly open. */
  tongue: 7,
  /** s, z, ʃ, ʒ, tɕ, ts, ɕ, ʐ, tʃ: teeth together, lips a little apart. */
  sibilant: 8,
  /** k, g, ŋ, h, χ, j, ɹ: back of the mouth, jaw half open. */
  back: 9,
} as const;
export type VisemeId = (typeof Viseme)[keyof typeof Viseme];
export const visemeCount = 10;
