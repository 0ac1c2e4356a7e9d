// `sigil users enable` (see users.ts).
export { enable as command } from "./users.ts";
