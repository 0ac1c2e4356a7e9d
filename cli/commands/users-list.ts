// `sigil users list` (see users.ts).
export { list as command } from "./users.ts";
