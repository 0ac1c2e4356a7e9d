// `sigil users disable` (see users.ts).
export { disable as command } from "./users.ts";
