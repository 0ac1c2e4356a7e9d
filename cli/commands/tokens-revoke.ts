export { revoke as command } from "./tokens.ts";
