// avatars: the avatar-pack format that gpu-workers write and media reads (manifest, viseme order, loader), and
// repoPath, which finds the files the repository ships from the sources or from dist/. Imports no role folder.
export { loadAvatarPack, type AvatarPack, type AvatarPackManifest } from "./pack.js";
export { Viseme, visemeCount, type VisemeId } from "./visemes.js";
export { repoPath } from "./paths.js";
