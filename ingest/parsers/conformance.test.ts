// Runs the parser conformance suite for every parser in the registry.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe } from "vitest";
import { PARSERS, PARSER_NAMES } from "./registry.ts";
import { defineConformance } from "./conformance.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));

for (const name of PARSER_NAMES) {
  describe(`parser ${name} conformance`, () => {
    defineConformance(PARSERS[name], path.join(HERE, name, "fixtures"));
  });
}
