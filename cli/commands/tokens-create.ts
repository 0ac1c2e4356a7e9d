export { create as command } from "./tokens.ts";
