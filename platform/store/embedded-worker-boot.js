// Entry of the embedded store's reader worker threads: registers tsx's loader in the worker, then
// loads the TypeScript worker (a worker does not inherit loaders registered on the main thread).
import { register } from "tsx/esm/api";

register();
await import("./embedded-worker.ts");
