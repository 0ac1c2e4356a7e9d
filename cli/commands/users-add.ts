// `sigil users add` (see users.ts).
export { add as command } from "./users.ts";
