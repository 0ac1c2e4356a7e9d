export { list as command } from "./tokens.ts";
