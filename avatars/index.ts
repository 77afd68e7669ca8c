// avatars: the avatar-pack format that gpu-workers write and media reads (manifest, viseme order, loader), the store that shares packs through NATS, and
// repoPath, which finds the files the repository ships from the sources or from dist/. Imports no role folder.
export { loadAvatarPack, type AvatarPack, type AvatarPackManifest } from "./pack.js";
export { Viseme, visemeCount, type VisemeId } from "./visemes.js";
export { repoPath } from "./paths.js";
export { AvatarStore } from "./store.js";
